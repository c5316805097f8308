// Runs the typed client of stock.ts against a server, with the Node that `npm ci` installs:
//   npx graphql-codegen
//   STOFLOW_TOKEN=<access_token> npx node examples/typed-client/run.ts [http://localhost:3000/graphql]
import { stockValue } from "./stock.ts";

const url = process.argv[2] ?? "http://localhost:3000/graphql";
console.log(`stock value: ${await stockValue(url, process.env.STOFLOW_TOKEN ?? "")}`);

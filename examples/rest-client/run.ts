// Runs the seed's flows through the typed REST client, with the Node that `npm ci` installs:
//   npx openapi-typescript http://localhost:3000/openapi.json -o examples/rest-client/api.ts
//   npx node examples/rest-client/run.ts [http://localhost:3000] [lou@example.com]
import { seedFlows } from "./flows.ts";

const [baseUrl = "http://localhost:3000", email = `lou-${Date.now()}@example.com`] = process.argv.slice(2);
console.log(JSON.stringify(await seedFlows(baseUrl, email), null, 2));

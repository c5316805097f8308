import "./env.ts";
import { readDatabaseConfig } from "../config.ts";
import { prepareDatabase } from "../db/database.ts";

/** `npm run migrate`: applies committed migrations and tenant DDL steps, then exits. */
const config = readDatabaseConfig();
if (config.appUrl && !config.ownerUrl) {
  console.error("DATABASE_OWNER_URL is required to migrate an external database.");
  process.exit(2);
}
const database = await prepareDatabase(config, (line) => console.log(line));
await database.stop();
console.log("migrations applied");

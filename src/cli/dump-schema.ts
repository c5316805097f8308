import "./env.ts";
import fs from "node:fs/promises";
import pg from "pg";
import { readDatabaseConfig } from "../config.ts";
import { prepareDatabase } from "../db/database.ts";
import { dumpSchema, SCHEMA_DUMP_FILE } from "../db/schema-dump.ts";
import { runCommand } from "./run.ts";

/**
 * `npm run db:dump`: writes data/schema.sql from this project's database. graphile-migrate runs it
 * after migrations and after each save of current.sql (.gmrc), with the database in GM_DBURL.
 */
async function dumpFrom(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await fs.writeFile(SCHEMA_DUMP_FILE, await dumpSchema(client));
  } finally {
    await client.end();
  }
}

await runCommand("db:dump", async () => {
  const config = readDatabaseConfig();
  if (config.migrateHookUrl) {
    await dumpFrom(config.migrateHookUrl);
  } else {
    const database = await prepareDatabase(config, () => {});
    try {
      await dumpFrom(database.ownerUrl ?? database.appUrl);
    } finally {
      await database.stop();
    }
  }
  console.log(`${SCHEMA_DUMP_FILE} written`);
});

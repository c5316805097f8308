import "./env.ts";
import fs from "node:fs/promises";
import pg from "pg";
import { readDatabaseConfig } from "../config.ts";
import { prepareDatabase } from "../db/database.ts";
import { dumpSchema, SCHEMA_DUMP_FILE } from "../db/schema-dump.ts";
import type { Io } from "./io.ts";
import { runAsScript, runCommand } from "./run.ts";

/**
 * `npm run db:dump [-- <file>]`: writes data/schema.sql (or `file`) from this project's database.
 * graphile-migrate runs it after migrations and after each save of current.sql (.gmrc), with the
 * database in GM_DBURL.
 */
export function dumpSchemaFile([file = SCHEMA_DUMP_FILE]: string[], io: Io): Promise<number> {
  return runCommand("db:dump", io, async () => {
    if (io.env.GM_DBURL) {
      await dumpFrom(io.env.GM_DBURL, file);
    } else {
      const database = await prepareDatabase(readDatabaseConfig(io.env), () => {});
      try {
        await dumpFrom(database.ownerUrl ?? database.appUrl, file);
      } finally {
        await database.stop();
      }
    }
    io.out(`${file} written`);
  });
}

async function dumpFrom(url: string, file: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await fs.writeFile(file, await dumpSchema(client));
  } finally {
    await client.end();
  }
}

await runAsScript(import.meta.url, dumpSchemaFile);

import "./env.ts";
import fs from "node:fs/promises";
import pg from "pg";
import { readDatabaseConfig } from "../config/database.ts";
import { prepareDatabase } from "../db/database.ts";
import { dumpSchema, SCHEMA_DUMP_FILE } from "../db/schema-dump.ts";
import type { Io } from "./io.ts";
import { runAsScript, runCommand } from "./run.ts";
import { answerScriptUsage } from "./usage.ts";

const USAGE = {
  usage: "npm run db:dump [-- <file>]",
  help: `Write the database's schema to ${SCHEMA_DUMP_FILE} (or <file>), from the catalog.`,
  takesArguments: true,
};

/**
 * `npm run db:dump [-- <file>]`: writes data/schema.sql (or `file`) from this project's database.
 * graphile-migrate runs it after migrations and after each save of current.sql (.gmrc), with the
 * database in GM_DBURL.
 */
export function dumpSchemaFile(argv: string[], io: Io): Promise<number> {
  const [file = SCHEMA_DUMP_FILE] = argv;
  return runCommand("db:dump", io, async () => {
    const answered = answerScriptUsage(USAGE, argv, io);
    if (answered !== undefined) return answered;
    const config = readDatabaseConfig(io.env);
    if (config.migrateHookUrl) {
      await dumpFrom(config.migrateHookUrl, file);
    } else {
      const database = await prepareDatabase(config, () => {});
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

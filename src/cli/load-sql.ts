import "./env.ts";
import fs from "node:fs/promises";
import { readDatabaseConfig } from "../config/database.ts";
import { prepareDatabase, withClient } from "../db/database.ts";
import type { Io } from "./io.ts";
import { runAsScript, runCommand } from "./run.ts";
import { answerScriptUsage } from "./usage.ts";

const USAGE = {
  usage: "npm run db:load -- <file.sql> [more.sql…]",
  help: "Run SQL files as the database owner, each in one transaction.",
  takesArguments: true,
};

/**
 * `npm run db:load -- <file.sql>…`: runs SQL files (reference data such as
 * sql/platform-mappings.vinted.sql) as the database owner, each in one transaction.
 */
export async function loadSqlFiles(ownerUrl: string, files: string[]): Promise<void> {
  await withClient(ownerUrl, async (client) => {
    for (const file of files) {
      const sql = await fs.readFile(file, "utf8");
      await client.query("begin");
      try {
        await client.query(sql);
        await client.query("commit");
      } catch (error) {
        await client.query("rollback");
        throw new Error(`${file}: ${(error as Error).message}`, { cause: error });
      }
    }
  });
}

/** `npm run db:load -- <file.sql>…` */
export function loadSql(files: string[], io: Io): Promise<number> {
  return runCommand("db:load", io, async () => {
    const answered = answerScriptUsage(USAGE, files, io);
    if (answered !== undefined) return answered;
    if (files.length === 0) {
      io.err(`usage: ${USAGE.usage}`);
      return 2;
    }
    const database = await prepareDatabase(readDatabaseConfig(io.env), io.out);
    try {
      if (!database.ownerUrl) throw new Error("DATABASE_OWNER_URL is required");
      await loadSqlFiles(database.ownerUrl, files);
      io.out(`loaded ${files.join(", ")}`);
    } finally {
      await database.stop();
    }
  });
}

await runAsScript(import.meta.url, loadSql);

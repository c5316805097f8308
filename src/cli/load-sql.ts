import "./env.ts";
import fs from "node:fs/promises";
import { readDatabaseConfig } from "../config.ts";
import { prepareDatabase, withClient } from "../db/database.ts";
import { runCommand } from "./run.ts";

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
        throw new Error(`${file}: ${(error as Error).message}`);
      }
    }
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runCommand("db:load", async () => {
    const files = process.argv.slice(2);
    if (files.length === 0) {
      console.error("usage: npm run db:load -- <file.sql> [more.sql…]");
      return 2;
    }
    const database = await prepareDatabase(readDatabaseConfig(), console.log);
    try {
      if (!database.ownerUrl) throw new Error("DATABASE_OWNER_URL is required");
      await loadSqlFiles(database.ownerUrl, files);
      console.log(`loaded ${files.join(", ")}`);
    } finally {
      await database.stop();
    }
  });
}

import "./env.ts";
import { readDatabaseConfig } from "../config/database.ts";
import { migrateAll, prepareDatabase } from "../db/database.ts";
import type { Io } from "./io.ts";
import { runAsScript, runCommand } from "./run.ts";
import { answerScriptUsage } from "./usage.ts";

const USAGE = {
  usage: "npm run migrate",
  help: "Apply the committed migrations, then bring every tenant schema to the last tenant DDL step; exit 1 if a tenant failed (each named).",
};

/**
 * `npm run migrate`: applies committed migrations and tenant DDL steps, then exits: 0 when every
 * tenant is current, 1 when some tenant's step failed (each named above; the others migrated).
 */
export function migrate(argv: string[], io: Io): Promise<number> {
  return runCommand("migrate", io, async () => {
    const answered = answerScriptUsage(USAGE, argv, io);
    if (answered !== undefined) return answered;
    const config = readDatabaseConfig(io.env);
    if (config.appUrl && !config.ownerUrl) {
      io.err("DATABASE_OWNER_URL is required to migrate an external database.");
      return 2;
    }
    const database = await prepareDatabase(config, io.out, { migrate: false });
    try {
      const failures = await migrateAll(database.ownerUrl!, config.tenantMigrationBatch, io.out);
      io.out(failures.length === 0 ? "migrations applied" : "migrations applied; some tenants failed (above)");
      return failures.length === 0 ? 0 : 1;
    } finally {
      await database.stop();
    }
  });
}

await runAsScript(import.meta.url, migrate);

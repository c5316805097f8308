import "./env.ts";
import { readDatabaseConfig } from "../config.ts";
import { migrateAll, prepareDatabase } from "../db/database.ts";
import { runCommand } from "./run.ts";

/**
 * `npm run migrate`: applies committed migrations and tenant DDL steps, then exits: 0 when every
 * tenant is current, 1 when some tenant's step failed (each named above; the others migrated).
 */
await runCommand("migrate", async () => {
  const config = readDatabaseConfig();
  if (config.appUrl && !config.ownerUrl) {
    console.error("DATABASE_OWNER_URL is required to migrate an external database.");
    return 2;
  }
  const database = await prepareDatabase(config, console.log, { migrate: false });
  try {
    const failures = await migrateAll(database.ownerUrl!, config.tenantMigrationBatch, console.log);
    console.log(failures.length === 0 ? "migrations applied" : "migrations applied; some tenants failed (above)");
    return failures.length === 0 ? 0 : 1;
  } finally {
    await database.stop();
  }
});

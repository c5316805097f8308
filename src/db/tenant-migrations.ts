import type pg from "pg";
import { withSettings } from "./transaction.ts";

export type Progress = (migratedSoFar: number) => void;

/**
 * Brings every tenant schema up to the last tenant DDL step, `batchSize` schemas per transaction,
 * so that thousands of tenants never need one transaction holding locks on all their tables.
 * Returns how many schemas were migrated.
 */
export async function applyPendingTenantSteps(
  pool: pg.Pool,
  batchSize: number,
  onProgress: Progress = () => {},
): Promise<number> {
  let migrated = 0;
  for (;;) {
    const done = await migrateOneBatch(pool, batchSize);
    if (done === 0) return migrated;
    migrated += done;
    onProgress(migrated);
  }
}

function migrateOneBatch(pool: pg.Pool, batchSize: number): Promise<number> {
  return withSettings(pool, {}, async (client) => {
    const { rows } = await client.query<{ schema_name: string }>(
      "select schema_name from app_private.pending_tenant_schemas($1) as schema_name",
      [batchSize],
    );
    for (const { schema_name } of rows) {
      await client.query("select app_private.apply_tenant_ddl($1)", [schema_name]);
    }
    return rows.length;
  });
}

import type pg from "pg";
import { runTransaction } from "./transaction.ts";

export interface TenantProgress {
  /** Schemas handled so far (migrated or failed). */
  done: number;
  failed: number;
  /** Schemas that lacked a step when the run began. */
  total: number;
  elapsedMs: number;
}

/** A schema whose step failed: it keeps the steps before that one and lags until fixed and re-run. */
export interface TenantFailure {
  schema: string;
  /** The tenant of the schema, as SQL reads it from the name (null for tenant_template). */
  tenantId: number | null;
  /** Which step failed, with PostgreSQL's message and code. */
  failure: string;
}

export interface TenantMigrationOptions {
  onProgress?: (progress: TenantProgress) => void;
  onFailure?: (failure: TenantFailure) => void;
  /** Migrate this tenant's schema alone (to try a step on one tenant before all). */
  tenantId?: number | undefined;
}

/**
 * Brings every tenant schema up to the last tenant DDL step, `batchSize` schemas per transaction,
 * so that thousands of tenants never need one transaction holding locks on all their tables. A
 * step that fails for one schema (its data breaks a new constraint…) is recorded for that schema
 * and the others go on (app_private.migrate_tenant_schema). Returns how many schemas were handled
 * and the failures.
 */
export async function applyPendingTenantSteps(
  pool: pg.Pool,
  batchSize: number,
  { onProgress = () => {}, onFailure = () => {}, tenantId }: TenantMigrationOptions = {},
): Promise<{ migrated: number; failures: TenantFailure[] }> {
  const startedAt = performance.now();
  const {
    rows: [run],
  } = await pool.query<{ since: Date; total: number }>(
    "select clock_timestamp() as since, (select count(*)::int from app_private.pending_tenant_schemas(2147483647, 'infinity', $1)) as total",
    [tenantId ?? null],
  );
  const failures: TenantFailure[] = [];
  let done = 0;
  for (;;) {
    const batch = await migrateOneBatch(pool, batchSize, run.since, tenantId);
    if (batch.length === 0) return { migrated: done - failures.length, failures };
    for (const failure of batch.filter((result): result is TenantFailure => result.failure !== null)) {
      failures.push(failure);
      onFailure(failure);
    }
    done += batch.length;
    onProgress({ done, failed: failures.length, total: run.total, elapsedMs: performance.now() - startedAt });
  }
}

function migrateOneBatch(pool: pg.Pool, batchSize: number, since: Date, tenantId: number | undefined) {
  return runTransaction(pool, {}, async (client) => {
    const { rows } = await client.query<{ schema: string; tenantId: number | null; failure: string | null }>(
      `select schema_name as schema, app_private.tenant_id_of_schema(schema_name) as "tenantId",
              app_private.migrate_tenant_schema(schema_name) as failure
         from app_private.pending_tenant_schemas($1, $2, $3) as schema_name`,
      [batchSize, since, tenantId ?? null],
    );
    return rows;
  });
}

/** Logs progress lines at most once a second, and the last one. */
export function progressEverySecond(log: (line: string) => void): (progress: TenantProgress) => void {
  let lastMs = -Infinity;
  return (progress) => {
    if (progress.done < progress.total && progress.elapsedMs - lastMs < 1000) return;
    lastMs = progress.elapsedMs;
    log(progressLine(progress));
  };
}

/** One line of progress: how far, how fast, how long still. */
export function progressLine({ done, failed, total, elapsedMs }: TenantProgress): string {
  const rate = done / Math.max(elapsedMs / 1000, 0.001);
  const left = Math.max(total - done, 0) / Math.max(rate, 0.001);
  return `tenant schemas: ${done}/${total}${failed ? ` (${failed} failed)` : ""}, ${rate.toFixed(0)}/s, about ${left.toFixed(0)} s left`;
}

/** One line naming a failed tenant: its id, schema, the step and PostgreSQL's message. */
export function failureLine({ schema, tenantId, failure }: TenantFailure): string {
  return `tenant ${tenantId ?? schema} (${schema}) lags: ${failure}`;
}

import type pg from "pg";
import { isLostRace } from "../db/lost-race.ts";
import { isDeadSession, withSettings } from "../db/transaction.ts";
import { AuthError, conflict, invalidToken, TENANT_MAINTENANCE_SQLSTATE, tenantMaintenance } from "./errors.ts";

/** Thin query helpers over one client, inside one transaction. */
export interface Query {
  value<T>(sql: string, params?: unknown[]): Promise<T>;
  row<T>(sql: string, params?: unknown[]): Promise<T | undefined>;
  run(sql: string, params?: unknown[]): Promise<void>;
}


/**
 * A transaction as role stoflow_auth (or a session's role), with thin query helpers. A transaction
 * that lost a race (deadlock, serialization, lock timeout) is a CONFLICT the client may retry.
 */
export function inTransaction<T>(pool: pg.Pool, settings: Record<string, string>, work: (query: Query) => Promise<T>): Promise<T> {
  return withSettings(pool, settings, (client) => work({
    value: async (sql, params) => Object.values((await client.query(sql, params)).rows[0] ?? {})[0] as never,
    row: async (sql, params) => (await client.query(sql, params)).rows[0],
    run: async (sql, params) => void (await client.query(sql, params)),
  }), (error) => error instanceof AuthError) // an AuthError is a decision: what led to it (a revoked family) is kept
    .catch(refusal);
}

/**
 * A dead session (SFSES, app_private.require_live_session) is 401 INVALID_TOKEN, a tenant whose schema
 * lags behind the template (SFMNT) 503 TENANT_MAINTENANCE, a lost race a CONFLICT; the rest is rethrown.
 */
export function refusal(error: unknown): never {
  if (isDeadSession(error)) throw invalidToken((error as Error).message);
  if ((error as { code?: string } | null)?.code === TENANT_MAINTENANCE_SQLSTATE) throw tenantMaintenance();
  throw isLostRace(error) ? conflict() : error;
}

import type pg from "pg";
import { codeOfPgError } from "../db/error-codes.ts";
import { runTransaction } from "../db/transaction.ts";
import { AUTH_PG_ROLE } from "./roles.ts";
import { ClientError, conflict, refusalOf } from "../errors.ts";

/** Thin query helpers over one client, inside one transaction. */
export interface SqlHelpers {
  value<T>(sql: string, params?: unknown[]): Promise<T>;
  row<T>(sql: string, params?: unknown[]): Promise<T | undefined>;
  run(sql: string, params?: unknown[]): Promise<void>;
}

/** The helpers over whatever runs one statement and gives its rows (a pooled client, a PostGraphile request's client). */
export function sqlHelpersOver(run: (sql: string, params?: unknown[]) => Promise<{ rows: readonly unknown[] }>): SqlHelpers {
  return {
    value: async (sql, params) => Object.values((await run(sql, params)).rows[0] ?? {})[0] as never,
    row: async (sql, params) => (await run(sql, params)).rows[0] as never,
    run: async (sql, params) => void (await run(sql, params)),
  };
}

/**
 * A transaction as role stoflow_auth (or a session's role), with thin query helpers. A transaction
 * that lost a race (deadlock, serialization, lock timeout) is a CONFLICT the client may retry.
 */
export function inTransaction<T>(pool: pg.Pool, settings: Record<string, string>, work: (query: SqlHelpers) => Promise<T>): Promise<T> {
  return runTransaction(
    pool,
    settings,
    (client) => work(sqlHelpersOver((sql, params) => client.query(sql, params))),
    (error) => error instanceof ClientError,
  ) // a ClientError is a decision: what led to it (a revoked family) is kept
    .catch(refusal);
}

/** A transaction as role stoflow_auth, the role of every auth flow's SQL (see inTransaction), with `settings` when given. */
export function asAuthRole<T>(pool: pg.Pool, work: (sql: SqlHelpers) => Promise<T>, settings: Record<string, string> = {}): Promise<T> {
  return inTransaction(pool, { ...settings, role: AUTH_PG_ROLE }, work);
}

/**
 * SQL's refusals become the app's errors (src/errors.ts refusalOf: a dead session 401 INVALID_TOKEN,
 * a tenant whose schema lags behind the template 503 TENANT_MAINTENANCE, a sensitive change outside
 * sudo mode 403 REAUTHENTICATION_REQUIRED…), a lost race a CONFLICT; the rest is rethrown.
 */
export function refusal(error: unknown): never {
  throw refusalOf(error) ?? (codeOfPgError(error) === "CONFLICT" ? conflict() : error);
}

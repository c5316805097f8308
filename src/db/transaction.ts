import pg from "pg";
import { connectFor } from "./tenant-pool.ts";

/**
 * Runs `work` in one transaction on one pooled connection (of the tenant's group, see tenant-pool.ts), opened together with `settings` in one
 * round trip (see openingStatement), local to the transaction (as PostGraphile applies pgSettings: role, claims,
 * search_path). Commits on success; on an error, commits when `commitOn(error)` says the error is
 * a decision whose cause must be kept, else rolls back.
 */
export async function runTransaction<T>(
  pool: pg.Pool,
  settings: Record<string, string>,
  work: (client: pg.PoolClient) => Promise<T>,
  commitOn: (error: unknown) => boolean = () => false,
): Promise<T> {
  const client = await connectFor(pool, settings);
  try {
    await client.query(openingStatement(settings));
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    // After an SQL error the transaction is aborted: its commit is a rollback.
    await client.query(commitOn(error) ? "commit" : "rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/**
 * BEGIN, the transaction-local settings, for a request with a session its liveness check, and for
 * one with a tenant its schema on the search_path, as one simple query: one round trip instead of
 * four. A simple query cannot take parameters, so names and values are quoted with pg's escapeLiteral.
 */
export function openingStatement(settings: Record<string, string>): string {
  if (Object.keys(settings).length === 0) return "begin";
  const check = settings[SESSION_ID_SETTING] ? `; ${SESSION_CHECK}` : "";
  const schema = settings[TENANT_ID_SETTING] ? `; ${ENTER_TENANT_SCHEMA}` : "";
  return `begin; ${settingsStatement(settings)}${check}${schema}`;
}

/** The settings that name the request's session and tenant (see claimSettings). */
export const SESSION_ID_SETTING = "jwt.claims.session_id";
export const TENANT_ID_SETTING = "jwt.claims.tenant_id";
/** Raises SQLSTATE SFSES (INVALID_TOKEN, see error-codes.ts) when the session of the transaction's claims may not act now. */
export const SESSION_CHECK = "select app_private.require_live_session()";
/** Puts the schema SQL names for the claimed tenant first on the transaction's search_path. */
export const ENTER_TENANT_SCHEMA = "select app_private.enter_tenant_schema()";
/** One `select set_config(…, true), …` applying `settings` to the current transaction, values quoted inline. */
function settingsStatement(settings: Record<string, string>): string {
  const calls = Object.entries(settings).map(([name, value]) => `set_config(${pg.escapeLiteral(name)}, ${pg.escapeLiteral(value)}, true)`);
  return `select ${calls.join(", ")}`;
}

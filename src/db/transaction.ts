import pg from "pg";
import type { SessionLiveness } from "../auth/session-liveness.ts";
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
  const fenced = () => fenceCommitted(pool, settings);
  try {
    await client.query(openingStatement(settings));
    const result = await work(client);
    await client.query("commit");
    fenced();
    return result;
  } catch (error) {
    // After an SQL error the transaction is aborted: its commit is a rollback.
    await client.query(commitOn(error) ? "commit" : "rollback").catch(() => {});
    fenced();
    throw error;
  } finally {
    client.release();
  }
}

/** The session liveness that each pool's committed transactions fence (they may have revoked sessions). */
const fencing = new WeakMap<pg.Pool, SessionLiveness>();

/** Makes every transaction committed on `pool` (fenceCommitted) fence its tenant (or every tenant) in `liveness`. */
export function fenceCommitsOf(pool: pg.Pool, liveness: SessionLiveness): void {
  fencing.set(pool, liveness);
}

/** A transaction with `settings` committed on `pool`: it may have revoked sessions of its tenant (of any tenant, without one). */
export function fenceCommitted(pool: pg.Pool, settings: Record<string, string>): void {
  fencing.get(pool)?.fence(settings[TENANT_ID_SETTING] || undefined);
}

/**
 * BEGIN, the transaction-local settings, for a request with a session its liveness check, and for
 * one with a tenant its schema on the search_path, as one simple query: one round trip instead of
 * four. A simple query cannot take parameters, so names and values are quoted with pg's escapeLiteral.
 */
export function openingStatement(settings: Record<string, string>, { sessionKnownLive = false } = {}): string {
  if (Object.keys(settings).length === 0) return "begin";
  const check = settings[SESSION_ID_SETTING] ? `; ${sessionKnownLive ? TENANT_CHECK : SESSION_CHECK}` : "";
  const schema = settings[TENANT_ID_SETTING] ? `; ${ENTER_TENANT_SCHEMA}` : "";
  return `begin; ${settingsStatement(settings)}${check}${schema}`;
}

/** A transaction's two possible openings: with the SQL session check, and for a session known to be live. */
export interface Opening {
  sessionId: string | undefined;
  tenantId: string | undefined;
  /** The settings whole: a session is trusted only with the very claims it was checked with. */
  claims: string;
  checked: string;
  trusted: string;
}

export function openingFor(settings: Record<string, string>): Opening {
  return {
    sessionId: settings[SESSION_ID_SETTING] || undefined,
    tenantId: settings[TENANT_ID_SETTING] || undefined,
    claims: JSON.stringify(settings),
    checked: openingStatement(settings),
    trusted: openingStatement(settings, { sessionKnownLive: true }),
  };
}

/**
 * Sends `opening` with `send`: without the SQL session check when `liveness` knows the session to
 * be live (src/auth/session-liveness.ts), else with it, and then records that it passed.
 */
export function sendOpening<T>(opening: Opening, send: (text: string) => Promise<T>, liveness: SessionLiveness | undefined): Promise<T> {
  const { sessionId } = opening;
  if (!sessionId || !liveness) return send(opening.checked);
  if (liveness.knownLive(sessionId, opening.claims, opening.tenantId)) return send(opening.trusted);
  const startedIn = liveness.checkStarting();
  return send(opening.checked).then((result) => {
    liveness.checkPassed(sessionId, opening.claims, startedIn);
    return result;
  });
}

/** The settings that name the request's session and tenant (see claimSettings). */
export const SESSION_ID_SETTING = "jwt.claims.session_id";
export const TENANT_ID_SETTING = "jwt.claims.tenant_id";
/** Raises SQLSTATE SFSES (INVALID_TOKEN, see error-codes.ts) when the session of the transaction's claims may not act now. */
export const SESSION_CHECK = "select app_private.require_live_session()";
/** The opening's check for a session known to be live: SFMNT (TENANT_MAINTENANCE) while the tenant's schema lags. */
export const TENANT_CHECK = "select app_private.require_tenant_available()";
/** Puts the schema SQL names for the claimed tenant first on the transaction's search_path. */
export const ENTER_TENANT_SCHEMA = "select app_private.enter_tenant_schema()";
/** One `select set_config(…, true), …` applying `settings` to the current transaction, values quoted inline. */
function settingsStatement(settings: Record<string, string>): string {
  const calls = Object.entries(settings).map(([name, value]) => `set_config(${pg.escapeLiteral(name)}, ${pg.escapeLiteral(value)}, true)`);
  return `select ${calls.join(", ")}`;
}

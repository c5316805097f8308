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
 * BEGIN, then app_private.open_transaction: the transaction-local settings, for a request with a
 * session its liveness check (or the tenant's alone, for a session known to be live), and for one
 * with a tenant its schema on the search_path; as one simple query, one round trip. A simple query
 * cannot take parameters: the settings are one JSON literal, quoted with pg's escapeLiteral.
 */
export function openingStatement(settings: Record<string, string>, { sessionKnownLive = false } = {}): string {
  const entries = Object.entries(settings);
  if (entries.length === 0) return "begin";
  return `begin; select app_private.open_transaction(${pg.escapeLiteral(JSON.stringify(entries))}, ${sessionKnownLive})`;
}

/** A transaction's two possible openings: with the SQL session check, and for a session known to be live. */
export interface Opening {
  sessionId: string | undefined;
  tenantId: string | undefined;
  /** The settings whole but READ_ONLY_SETTING: a session is trusted only with the very claims it was checked with. */
  claims: string;
  checked: string;
  trusted: string;
  /** The settings make the transaction read only (READ_ONLY_SETTING): PostgreSQL refuses any write in it. */
  readOnly: boolean;
}

export function openingFor(settings: Record<string, string>): Opening {
  const { [READ_ONLY_SETTING]: readOnly, ...claimed } = settings;
  return {
    sessionId: settings[SESSION_ID_SETTING] || undefined,
    tenantId: settings[TENANT_ID_SETTING] || undefined,
    claims: JSON.stringify(claimed),
    checked: openingStatement(settings),
    trusted: openingStatement(settings, { sessionKnownLive: true }),
    readOnly: readOnly === "on",
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

/**
 * PostgreSQL's setting of `SET TRANSACTION READ ONLY`, which a transaction may take at any point
 * (only the way back to read-write must come before its first query): a GraphQL query's settings
 * carry it (src/graphql/context.ts), so no statement of a read can write.
 */
export const READ_ONLY_SETTING = "transaction_read_only";

/** The settings that name the request's session and tenant (see claimSettings). */
export const SESSION_ID_SETTING = "jwt.claims.session_id";
export const TENANT_ID_SETTING = "jwt.claims.tenant_id";

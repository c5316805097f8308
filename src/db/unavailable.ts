/**
 * "The database cannot serve right now": one classification for every path (REST, the bearer
 * check, GraphQL, /health, /ready), each of which then answers HTTP 503 with Retry-After and the
 * code UNAVAILABLE.
 *
 * Built from what the driver and the pool really threw while PostgreSQL 18 was stopped under load
 * in each way (pg 8.23, pg-pool 3.14; `node test/outage-probe.ts <way>` shows it again):
 * - fast shutdown (`pg_ctl stop -m fast`, SIGINT): a query in flight fails with 57P01
 *   "terminating connection due to administrator command", and the rollback after it with
 *   "Connection terminated unexpectedly"; connecting while it shuts down, 57P03 "the database
 *   system is shutting down"; once it is down, ECONNREFUSED.
 * - immediate shutdown (`-m immediate`, SIGQUIT), and kill -9 of one backend (PostgreSQL then
 *   ends every backend and recovers by itself): a query in flight fails with "Connection
 *   terminated unexpectedly" (the server's own word comes only as a WARNING notice), the next
 *   query on that client with "Client has encountered a connection error and is not queryable";
 *   connecting fails with ECONNRESET or ECONNREFUSED, then 57P03 "the database system is in
 *   recovery mode", "… is starting up", "… is not yet accepting connections".
 * - pg_terminate_backend of the server's connections: 57P01, then "Connection terminated
 *   unexpectedly".
 * - network gone while a query is in flight (the peer goes silent): nothing at all until a
 *   client-side limit ends the wait: "Query read timeout" (query_timeout), then "Client was closed
 *   and is not queryable" (src/db/pool.ts ends that client), "Connection terminated due to
 *   connection timeout" (connectionTimeoutMillis) and "timeout exceeded when trying to connect"
 *   (no free connection in the pool within connectionTimeoutMillis).
 * - through PgBouncer (1.18, transaction mode; tried by hand), a lost server comes as 08P01
 *   "server conn crashed?", and connecting, until PgBouncer logs in again, as 08P01 "server login
 *   has been failing, try again later (server_login_retry)".
 * Kept beside them, though not met here: the rest of SQLSTATE class 08 (connection exceptions),
 * 57P02 (crash of another backend, which PostgreSQL 18 sends only as a WARNING), and the socket
 * errors of the same failures on other networks (ETIMEDOUT, EPIPE, EHOSTUNREACH, ENETUNREACH, and
 * ENOTFOUND / EAI_AGAIN for a database host whose name no longer resolves).
 */
const UNAVAILABLE_CODES = new Set([
  "57P01",
  "57P02",
  "57P03",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);
const PG_MESSAGES =
  /^(Connection terminated|Client has encountered a connection error|Client was closed and is not queryable|Query read timeout|timeout exceeded when trying to connect)/;

/** The message of pg's error when a query got no answer within query_timeout. */
export const QUERY_TIMEOUT_MESSAGE = "Query read timeout";

/** How every path answers while the database cannot serve. */
export const UNAVAILABLE = { status: 503, code: "UNAVAILABLE", message: "Database unavailable", retryAfterSeconds: 5 } as const;

export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === "string" && (code.startsWith("08") || UNAVAILABLE_CODES.has(code))) return true;
  return typeof message === "string" && PG_MESSAGES.test(message);
}

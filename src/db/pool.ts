import pg from "pg";
import type { Logger } from "pino";
import type { ServerConfig } from "../config/server.ts";
import { isDatabaseUnavailable, QUERY_TIMEOUT_MESSAGE } from "./unavailable.ts";

export type PoolSettings = Pick<
  ServerConfig,
  "poolSize" | "poolMaxLifetimeSeconds" | "connectTimeoutSeconds" | "queryTimeoutSeconds" | "keepAliveSeconds"
>;

/**
 * The server's connections. Every wait on PostgreSQL is bounded (connecting, waiting for a free
 * connection, each query), so that a request fails with 503 instead of hanging, and a connection
 * that failed is dropped, so the pool heals by itself once PostgreSQL is back.
 */
export function createPool(
  url: string,
  settings: PoolSettings,
  logger: Logger,
  { keepIdle = false, applicationName }: { keepIdle?: boolean; applicationName?: string } = {},
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    ...(applicationName ? { application_name: applicationName } : {}), // pg_stat_activity tells the pool's connections apart
    max: settings.poolSize,
    ...(keepIdle ? { idleTimeoutMillis: 0 } : {}), // else idle connections close after 10 s
    maxLifetimeSeconds: settings.poolMaxLifetimeSeconds,
    connectionTimeoutMillis: settings.connectTimeoutSeconds * 1000,
    query_timeout: settings.queryTimeoutSeconds * 1000 || undefined,
    keepAlive: settings.keepAliveSeconds > 0,
    keepAliveInitialDelayMillis: settings.keepAliveSeconds * 1000,
  });
  // A connection lost while idle (pool) or checked out (a request in flight) must not crash the
  // process: the request in flight fails on its own and gets a 503. The pool's event repeats the
  // client's own, which is logged.
  pool.on("error", () => {});
  pool.on("connect", (client) => {
    client.on("error", (error) => logConnectionLoss(logger, error));
    endOnQueryTimeout(client);
  });
  return pool;
}

/**
 * A connection the database ended or lost (it stops or restarts, a fast shutdown ends its sessions)
 * is expected: one line with PostgreSQL's words and code, no stack trace. Anything else keeps it.
 */
function logConnectionLoss(logger: Logger, error: Error & { code?: string }): void {
  if (isDatabaseUnavailable(error)) logger.warn({ code: error.code }, `database connection lost: ${error.message}`);
  else logger.warn({ err: error }, "database connection lost");
}

/**
 * pg's query_timeout fails the query but keeps its connection, still waiting for the answer: the
 * next query on it (the request's rollback, or the next request once the connection is back in the
 * pool) would wait behind it on the same silence. Ending the client closes the socket at once, and
 * the pool drops a client that is ending.
 */
function endOnQueryTimeout(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const endIfTimedOut = (error: unknown) => {
    if ((error as Error | undefined)?.message === QUERY_TIMEOUT_MESSAGE) client.end().catch(() => {});
  };
  client.query = ((...args: unknown[]) => {
    const callback = args.at(-1);
    if (typeof callback === "function") {
      const answer = callback as (error: unknown, result: unknown) => void;
      args[args.length - 1] = (error: unknown, result: unknown) => {
        endIfTimedOut(error);
        answer(error, result);
      };
      return query(...args);
    }
    const result = query(...args);
    if (result instanceof Promise) result.catch(endIfTimedOut);
    return result;
  }) as typeof client.query;
}

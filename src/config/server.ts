import os from "node:os";
import { readBcryptCost, readJwtConfig, readThrottleConfig, type JwtConfig, type ThrottleConfig } from "./auth.ts";
import { isProduction, readPort } from "./env.ts";
import { readPoolConfig, readPoolGroupsConfig, type PoolConfig, type PoolGroupsConfig } from "./pool.ts";
import { flag, integer, MB, memoryShareMb, optional, text } from "./fields.ts";
import { readGraphqlConfig, type GraphqlConfig } from "./graphql.ts";
import { readJobsConfig, type JobsConfig } from "./jobs.ts";
import { readBillingConfig, type BillingConfig } from "./billing.ts";
import { readLiveConfig, type LiveConfig } from "./live.ts";
import { readMailConfig, type MailConfig } from "./mail.ts";
import { openFileLimit } from "../open-files.ts";

/** How the HTTP server runs and signs its tokens. */
export interface ServerConfig extends PoolConfig, PoolGroupsConfig {
  port: number;
  /** Server processes sharing the port (Node cluster; `npm start` only). */
  workers: number;
  /** pino's level for the JSON log lines. */
  logLevel: string;
  /** The per-request queries of our own as named prepared statements (off for a pooler that cannot keep them). */
  preparedStatements: boolean;
  /**
   * Statements PostGraphile prepares per connection: read by @dataplan/pg itself from
   * DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE, here so that the pooler check knows it (0: none).
   */
  pgStatementCacheSize: number;
  /** Origins allowed to call the API from a browser; empty means no CORS headers. */
  corsOrigins: string[];
  bcryptCost: number;
  /**
   * bcrypt runs in libuv's thread pool, off the event loop, but a login storm on every pool thread
   * still takes every core from the requests of signed-in tenants: at most this many hashes run at
   * once (default: one less than the cores).
   */
  bcryptConcurrency: number;
  /**
   * Requests that may wait for bcrypt beyond those running; the next one is refused at once with
   * 503 BUSY, so a flood of anonymous logins cannot grow memory or latency without bound.
   */
  bcryptQueueLimit: number;
  /** The nice value of bcrypt's threads: logins take the CPU that signed-in tenants' requests leave. */
  bcryptNice: number;
  throttle: ThrottleConfig;
  /** Express `trust proxy`: which proxies' X-Forwarded-For gives the client address throttling sees. */
  trustProxy: boolean | number | string;
  /** Serve the Ruru explorer at /graphiql: on by default, off in production unless ENABLE_GRAPHIQL=true. */
  explorer: boolean;
  jwt: JwtConfig;
  graphql: GraphqlConfig;
  /**
   * Who may read /metrics: with METRICS_TOKEN, requests bearing it; without, everyone in
   * development and nobody in production (tenant counts and auth failures are not public data).
   */
  metrics: { token: string | undefined; open: boolean };
  /** Requests of one client address worked on at once and waiting (429 beyond). */
  clientConcurrency: { active: number; waiting: number };
  /** Requests of all clients together worked on at once and waiting (503 BUSY beyond); probes are not counted. */
  serverConcurrency: { active: number; waiting: number };
  /** Open sockets per client address (0: no limit, the default behind a proxy); beyond, closed at once. */
  connectionsPerAddress: number;
  /** The least share of sockets of an address while the open sockets are under nine tenths of `maxConnections`. */
  connectionsFloor: number;
  /**
   * Open sockets of all clients together; beyond, a new connection is closed at once. Below the
   * process's open-file limit, so that a crowd of sockets never leaves it without files for its
   * database connections and its answers.
   */
  maxConnections: number;
  /**
   * Milliseconds a client has to send its headers, and its whole request; and a socket may stay
   * silent, neither sending nor taking its answer (slow clients hold sockets and buffered answers).
   */
  httpTimeouts: { headersMs: number; requestMs: number; socketMs: number };
  /** Requests one socket may have in progress at once (HTTP/1.1 pipelining); beyond, the socket is closed. */
  pipelinedRequests: number;
  /** Listening sockets added to the API's port, each accepting one connection per turn of the event loop (src/http/acceptors.ts). */
  acceptors: number;
  /** Requests an iteration of the event loop starts on the API's port; beyond, they wait for the next, clients in turn (src/admission/loop-share.ts). */
  requestsPerIteration: number;
  /**
   * Sockets that give nothing back: a socket with no whole request this long after it began is
   * slow (at HTTP_MAX_CONNECTIONS it makes room for a new one); a socket receiving headers or a
   * body must send `minRate` bytes a second after `graceMs`.
   */
  slowSockets: { slowMs: number; graceMs: number; minRate: number };
  /** Bytes the bodies of all requests in progress may hold together; beyond, 503 BUSY. */
  bodyBudgetBytes: number;
  /** The listener of /health, /ready and /metrics alone (0: any free port), and its own socket cap. */
  /**
   * PROBE_PORT and its sockets; `perAddress`: probe requests of one address worked on at once, on
   * each port; `stalledMs`: how long the API's event loop may not turn before the probe port says so.
   */
  probe: { port: number; maxConnections: number; perAddress: number; stalledMs: number };
  mail: MailConfig;
  jobs: JobsConfig;
  /** GraphQL subscriptions: their sockets, limits and LISTEN connection. */
  live: LiveConfig;
  /** The billing boundary: BILLING, trials, Stripe. */
  billing: BillingConfig;
}

/**
 * Reads the server settings. Without JWT_SECRET (or a key pair), `generatedSecret` is used: in
 * development it is generated once and kept in the data folder; production refuses to start.
 */
export function readServerConfig(env: NodeJS.ProcessEnv = process.env, generatedSecret?: string): ServerConfig {
  const pool = readPoolConfig(env);
  const port = readPort(env);
  return {
    port,
    workers: integer(env, "WEB_CONCURRENCY", 1, 1, 64),
    logLevel: text(env, "LOG_LEVEL", "info"),
    preparedStatements: flag(env, "DATABASE_PREPARED_STATEMENTS", true),
    pgStatementCacheSize: integer(env, "DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE", 100, 0, 1_000_000),
    ...pool,
    ...readPoolGroupsConfig(env, pool.poolSize),
    corsOrigins: (optional(env, "CORS_ORIGINS") ?? "")
      .split(",")
      .map((o) => o.trim())
      .filter(Boolean),
    bcryptCost: readBcryptCost(env),
    bcryptConcurrency: integer(env, "BCRYPT_CONCURRENCY", Math.max(1, os.availableParallelism() - 1), 1, 64),
    bcryptQueueLimit: integer(env, "BCRYPT_QUEUE_LIMIT", 8, 0, 100_000),
    bcryptNice: integer(env, "BCRYPT_NICE", 5, 0, 19),
    throttle: readThrottleConfig(env),
    trustProxy: trustProxySetting(optional(env, "TRUST_PROXY")),
    explorer: flag(env, "ENABLE_GRAPHIQL", !isProduction(env)),
    jwt: readJwtConfig(env, generatedSecret),
    graphql: readGraphqlConfig(env, pool.queryTimeoutSeconds),
    metrics: { token: optional(env, "METRICS_TOKEN"), open: !isProduction(env) },
    clientConcurrency: {
      active: integer(env, "HTTP_CLIENT_CONCURRENCY", 8, 1, 100_000),
      waiting: integer(env, "HTTP_CLIENT_QUEUE", 128, 0, 1_000_000),
    },
    serverConcurrency: {
      // Twice the pool: while some requests hold a connection, as many are planned or answered, so
      // no connection waits idle for the next turn (a line as wide as the pool cost 10 % of reads).
      active: integer(env, "HTTP_SERVER_CONCURRENCY", 2 * pool.poolSize, 1, 100_000),
      waiting: integer(env, "HTTP_SERVER_QUEUE", 256, 0, 1_000_000),
    },
    connectionsPerAddress: integer(env, "HTTP_CLIENT_CONNECTIONS", env.TRUST_PROXY ? 0 : 256, 0, 1_000_000),
    connectionsFloor: integer(env, "HTTP_CLIENT_CONNECTIONS_FLOOR", 8, 1, 1_000_000),
    maxConnections: integer(env, "HTTP_MAX_CONNECTIONS", Math.max(64, Math.floor(openFileLimit() * 0.75)), 1, 10_000_000),
    httpTimeouts: {
      headersMs: integer(env, "HTTP_HEADERS_TIMEOUT_MS", 10_000, 100, 600_000),
      requestMs: integer(env, "HTTP_REQUEST_TIMEOUT_MS", 30_000, 100, 3_600_000),
      socketMs: integer(env, "HTTP_SOCKET_TIMEOUT_MS", 60_000, 1_000, 3_600_000),
    },
    pipelinedRequests: integer(env, "HTTP_PIPELINED_REQUESTS", 16, 1, 10_000),
    acceptors: integer(env, "HTTP_ACCEPTORS", 32, 0, 256),
    requestsPerIteration: integer(env, "HTTP_REQUESTS_PER_ITERATION", 32, 1, 1_000_000),
    slowSockets: {
      slowMs: integer(env, "HTTP_SLOW_REQUEST_MS", 2_000, 100, 600_000),
      graceMs: integer(env, "HTTP_RECEIVE_GRACE_MS", 5_000, 100, 600_000),
      minRate: integer(env, "HTTP_MIN_RECEIVE_RATE", 500, 0, 100_000_000),
    },
    bodyBudgetBytes: integer(env, "HTTP_BODY_BUDGET_MB", memoryShareMb(), 1, 65_536) * MB,
    probe: {
      port: integer(env, "PROBE_PORT", port === 0 || port === 65535 ? 0 : port + 1, 0, 65535),
      maxConnections: integer(env, "PROBE_MAX_CONNECTIONS", 32, 1, 100_000),
      perAddress: integer(env, "PROBE_REQUESTS_PER_ADDRESS", 2, 1, 1_000),
      stalledMs: integer(env, "PROBE_STALLED_MS", 10_000, 1_000, 600_000),
    },
    mail: readMailConfig(env, port),
    jobs: readJobsConfig(env),
    live: readLiveConfig(env),
    billing: readBillingConfig(env),
  };
}

/**
 * TRUST_PROXY as Express reads it: a number of hops ("1": the address the nearest proxy saw),
 * true/false, or addresses and subnets ("loopback, 10.0.0.0/8"). Express takes a string as a list
 * of addresses only, so "1" must become the number 1.
 */
function trustProxySetting(raw: string | undefined): boolean | number | string {
  if (raw === undefined || raw.trim() === "" || raw === "false") return false;
  if (raw === "true") return true;
  return /^\d+$/.test(raw.trim()) ? Number(raw) : raw;
}

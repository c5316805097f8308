import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseEnv } from "node:util";
import type { DocumentLimits } from "./graphql/document-limits.ts";
import type { NewDocumentBudget } from "./admission/new-document-line.ts";
import { openFileLimit } from "./open-files.ts";
import { flag, integer, optional, recordSettings, text } from "./settings.ts";

/** Where the server finds PostgreSQL, read once from the environment. */
export interface DatabaseConfig {
  /** Connection of the running server, as stoflow_authenticator; unset means embedded PostgreSQL. */
  appUrl: string | undefined;
  /** Connection of the database owner, used to run migrations; unset means "already migrated". */
  ownerUrl: string | undefined;
  /** Superuser connection used by graphile-migrate to create or reset databases (development). */
  rootUrl: string | undefined;
  /** Throw-away database graphile-migrate replays migrations into before committing them. */
  shadowUrl: string | undefined;
  /** Folder of the embedded cluster and its generated secrets. */
  dataDir: string;
  /** Port of the embedded cluster. */
  embeddedPort: number;
  /** Database name on the embedded cluster. */
  databaseName: string;
  /** How many tenant schemas one catch-up transaction migrates. */
  tenantMigrationBatch: number;
  /** The database graphile-migrate hands its hooks (GM_DBURL), e.g. to `npm run db:dump`; unset outside them. */
  migrateHookUrl: string | undefined;
  /** Also apply migrations/current.sql (work in progress: tests, soak and bench set it, never the environment). */
  includeCurrentMigration?: boolean;
}

export function readDatabaseConfig(env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  return {
    appUrl: optional(env, "DATABASE_URL"),
    ownerUrl: optional(env, "DATABASE_OWNER_URL"),
    rootUrl: optional(env, "ROOT_DATABASE_URL"),
    shadowUrl: optional(env, "SHADOW_DATABASE_URL"),
    dataDir: path.resolve(dataFolder(env)),
    embeddedPort: integer(env, "STOFLOW_PG_PORT", 54329, 1, 65535),
    databaseName: text(env, "STOFLOW_DB_NAME", "stoflow"),
    tenantMigrationBatch: integer(env, "TENANT_MIGRATION_BATCH", 1, 1, 1000),
    migrateHookUrl: optional(env, "GM_DBURL"),
  };
}

/** STOFLOW_DATA_DIR: the embedded cluster, its secrets, the development mail. */
const dataFolder = (env: NodeJS.ProcessEnv) => text(env, "STOFLOW_DATA_DIR", "./.data");

/** NODE_ENV=production: no generated secrets, no explorer, no introspection, no open metrics. */
export function isProduction(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.NODE_ENV === "production";
}

/**
 * Reads `.env` (or ENV_FILE) into the environment when present, before any setting is read.
 * Variables already set win, so a deployment's settings are never overridden by a stray file.
 */
export function loadEnvFile(env: NodeJS.ProcessEnv = process.env, file = env.ENV_FILE ?? ".env"): void {
  if (!fs.existsSync(file)) return;
  for (const [name, value] of Object.entries(parseEnv(fs.readFileSync(file, "utf8")))) env[name] ??= value;
}


/** How the HTTP server runs and signs its tokens. */
export interface ServerConfig {
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
  /** Connections the server keeps to PostgreSQL. */
  poolSize: number;
  /**
   * Seconds a pooled connection lives before it is replaced: each PostgreSQL backend caches the
   * catalog of every tenant schema it touched, so recycling bounds that memory.
   */
  poolMaxLifetimeSeconds: number;
  /** Seconds to open a connection, or to wait for a free one in the pool, before giving up. */
  connectTimeoutSeconds: number;
  /**
   * Seconds a query may wait for its answer: when PostgreSQL goes silent (network gone, host
   * frozen), nothing else ends the wait. 0: no limit.
   */
  queryTimeoutSeconds: number;
  /** Seconds a connection stays idle before TCP keepalive probes check the peer. 0: no probes. */
  keepAliveSeconds: number;
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
  /**
   * Sockets that give nothing back: a socket with no whole request this long after it began is
   * slow (at HTTP_MAX_CONNECTIONS it makes room for a new one); a socket receiving headers or a
   * body must send `minRate` bytes a second after `graceMs`.
   */
  slowSockets: { slowMs: number; graceMs: number; minRate: number };
  /** Bytes the bodies of all requests in progress may hold together; beyond, 503 BUSY. */
  bodyBudgetBytes: number;
  /** The listener of /health, /ready and /metrics alone (0: any free port), and its own socket cap. */
  /** PROBE_PORT and its sockets; `perAddress`: probe requests of one address worked on at once, on either port. */
  probe: { port: number; maxConnections: number; perAddress: number };
  mail: MailConfig;
  jobs: JobsConfig;
}

/** How account messages (verification, reset, invitation, change of address) are sent. */
export interface MailConfig {
  /** SMTP server (smtp://user:pass@host:587, smtps://…); unset: each message is an .eml file in `folder` (development only). */
  smtpUrl: string | undefined;
  /**
   * Milliseconds to connect to the SMTP server, to get its greeting, and of silence once talking:
   * a relay that stalls holds a job worker this long per message, not nodemailer's 2 min / 30 s / 10 min.
   */
  smtpTimeoutsMs: { connection: number; greeting: number; socket: number };
  /** The From: of every message. */
  from: string;
  /** Where the application's pages live: the links of the messages point there. */
  appUrl: string;
  /**
   * No APP_URL (development): the links point at this server's own address, and the server
   * answers their paths with minimal pages of its own (src/http/link-pages.ts).
   */
  ownLinkPages: boolean;
  /** Development mail folder (STOFLOW_DATA_DIR/mail). */
  folder: string;
  /** How long an e-mailed token stays usable, in seconds, per purpose. */
  tokenTtlSeconds: { verify_email: number; reset_password: number; invitation: number; change_email: number };
  /** Messages one e-mail address may be sent on request (resend, forgot password), and one client may ask for, per window. */
  requestsPerEmail: number;
  requestsPerAddress: number;
  requestWindowSeconds: number;
  /** Token uses (right or wrong) one client address may try per window: guessing is hopeless, trying costs bcrypt. */
  tokenAttemptsPerAddress: number;
  /** Invitations (made or resent) one admin, and one tenant, may send per hour. */
  invitationsPerInviterPerHour: number;
  invitationsPerTenantPerHour: number;
  /** Refuse sign-in (403 EMAIL_NOT_VERIFIED) until the address is verified; by default an unverified account signs in. */
  loginRequiresVerifiedEmail: boolean;
}

/** The job queue (graphile-worker): the server runs it in-process unless JOBS_IN_PROCESS=false (then `npm run worker`). */
export interface JobsConfig {
  inProcess: boolean;
  /**
   * The worker's connection (as stoflow_authenticator), when DATABASE_URL goes through a
   * transaction-mode pooler: graphile-worker LISTENs and sets its role at connection start, which
   * needs a session of its own. Unset: DATABASE_URL.
   */
  databaseUrl: string | undefined;
  /** Jobs run at once by one worker. */
  concurrency: number;
  /** Milliseconds between polls for jobs whose retry time came (new jobs are announced by LISTEN/NOTIFY). */
  pollIntervalMs: number;
}

const DAY = 86_400;

/** This server's own address, as the links of development messages name it (startGateway knows the real port when PORT=0). */
export const ownAddress = (port: number) => `http://localhost:${port}`;

function readMailConfig(env: NodeJS.ProcessEnv, port: number): MailConfig {
  const smtpUrl = optional(env, "SMTP_URL");
  const appUrl = optional(env, "APP_URL");
  if (!smtpUrl && isProduction(env)) throw new Error("SMTP_URL must be set in production (account messages are sent by SMTP)");
  if (!appUrl && isProduction(env)) throw new Error("APP_URL must be set in production (the links of account messages open the application's pages there)");
  return {
    smtpUrl,
    smtpTimeoutsMs: {
      connection: integer(env, "SMTP_CONNECTION_TIMEOUT", 10, 1, 600) * 1000,
      greeting: integer(env, "SMTP_GREETING_TIMEOUT", 10, 1, 600) * 1000,
      socket: integer(env, "SMTP_SOCKET_TIMEOUT", 30, 1, 3_600) * 1000,
    },
    from: text(env, "MAIL_FROM", "Stoflow <no-reply@stoflow.localhost>"),
    appUrl: (appUrl ?? ownAddress(port)).replace(/\/+$/, ""),
    ownLinkPages: appUrl === undefined,
    folder: path.resolve(dataFolder(env), "mail"),
    tokenTtlSeconds: {
      verify_email: integer(env, "VERIFY_EMAIL_TOKEN_TTL", 7 * DAY, 60, 90 * DAY),
      reset_password: integer(env, "RESET_PASSWORD_TOKEN_TTL", 3600, 60, 7 * DAY),
      // How long a pending invitation (and so its link) lives.
      invitation: integer(env, "INVITATION_TTL", 7 * DAY, 60, 90 * DAY),
      change_email: integer(env, "CHANGE_EMAIL_TOKEN_TTL", DAY, 60, 90 * DAY),
    },
    requestsPerEmail: integer(env, "MAIL_REQUESTS_PER_EMAIL", 3, 1, 1_000_000),
    requestsPerAddress: integer(env, "MAIL_REQUESTS_PER_ADDRESS", 20, 1, 1_000_000),
    requestWindowSeconds: integer(env, "MAIL_REQUEST_WINDOW", 3600, 1, DAY),
    tokenAttemptsPerAddress: integer(env, "TOKEN_ATTEMPTS_PER_ADDRESS", 20, 1, 1_000_000),
    invitationsPerInviterPerHour: integer(env, "INVITATIONS_PER_INVITER_PER_HOUR", 10, 1, 1_000_000),
    invitationsPerTenantPerHour: integer(env, "INVITATIONS_PER_TENANT_PER_HOUR", 20, 1, 1_000_000),
    loginRequiresVerifiedEmail: flag(env, "LOGIN_REQUIRES_VERIFIED_EMAIL", false),
  };
}

function readJobsConfig(env: NodeJS.ProcessEnv): JobsConfig {
  return {
    inProcess: flag(env, "JOBS_IN_PROCESS", true),
    databaseUrl: optional(env, "JOBS_DATABASE_URL"),
    // Sending is waiting on the relay: a relay that stalls on some connections holds a worker up
    // to SMTP_GREETING_TIMEOUT per message, and the others keep account messages flowing.
    concurrency: integer(env, "JOBS_CONCURRENCY", 8, 1, 100),
    pollIntervalMs: integer(env, "JOBS_POLL_INTERVAL_MS", 2_000, 100, 600_000),
  };
}

/** What one GraphQL request may ask for, and how much memory documents may hold. */
export interface GraphqlConfig extends DocumentLimits {
  /** Largest request body on /graphql, in bytes. */
  maxBodyBytes: number;
  /** Memory the cache of admitted documents may hold, in bytes. */
  documentCacheBytes: number;
  /** Plans grafast keeps (one per operation; a plan holds its document). */
  planCacheSize: number;
  /** Event-loop time per second for never-seen documents (parse, limits, validation, planning, introspection), and their longest wait; beyond, 503 BUSY. */
  newDocuments: NewDocumentBudget;
  /**
   * Trusted documents: a JSON file of `{ "<hash>": "<document>" }` (GraphQL Codegen's
   * persisted-documents.json, Relay's persisted queries) or a folder of `<hash>.graphql` files.
   * When set, only these documents run, requested by hash.
   */
  trustedDocuments: string | undefined;
  exports: ExportConfig;
  /**
   * PostGraphile's watch mode: the schema is rebuilt when the database's DDL changes (a saved
   * current.sql shows in /graphiql without a restart). Development only by default.
   */
  watch: boolean;
}

function readGraphqlConfig(env: NodeJS.ProcessEnv, queryTimeoutSeconds: number): GraphqlConfig {
  const maxPageSize = integer(env, "GRAPHQL_MAX_PAGE_SIZE", 100, 1, 10_000);
  const production = isProduction(env);
  return {
    maxBodyBytes: integer(env, "GRAPHQL_MAX_BODY_BYTES", 100_000, 1_000, 10_000_000),
    maxTokens: integer(env, "GRAPHQL_MAX_TOKENS", 2_000, 100, 100_000),
    maxFields: integer(env, "GRAPHQL_MAX_FIELDS", 2_000, 10, 1_000_000),
    maxDepth: integer(env, "GRAPHQL_MAX_DEPTH", 12, 2, 100),
    maxAliases: integer(env, "GRAPHQL_MAX_ALIASES", 30, 0, 10_000),
    maxRootFields: integer(env, "GRAPHQL_MAX_ROOT_FIELDS", 20, 1, 1_000),
    maxPageSize,
    defaultPageSize: integer(env, "GRAPHQL_DEFAULT_PAGE_SIZE", Math.min(100, maxPageSize), 1, maxPageSize),
    maxCost: integer(env, "GRAPHQL_MAX_COST", 50_000, 1, 100_000_000),
    maxInputDepth: integer(env, "GRAPHQL_MAX_INPUT_DEPTH", 16, 2, 100),
    introspection: flag(env, "GRAPHQL_INTROSPECTION", !production),
    documentCacheBytes: integer(env, "GRAPHQL_DOCUMENT_CACHE_MB", 32, 1, 4_096) * 1024 * 1024,
    planCacheSize: integer(env, "GRAPHQL_PLAN_CACHE_SIZE", 100, 1, 100_000),
    newDocuments: {
      msPerSecond: integer(env, "GRAPHQL_NEW_DOCUMENT_MS", 200, 10, 1_000),
      maxWaitMs: integer(env, "GRAPHQL_NEW_DOCUMENT_WAIT_MS", 2_000, 0, 60_000),
    },
    trustedDocuments: optional(env, "GRAPHQL_TRUSTED_DOCUMENTS"),
    exports: readExportConfig(env, queryTimeoutSeconds),
    watch: env.GRAPHQL_WATCH ? env.GRAPHQL_WATCH === "true" : !production,
  };
}

/** How tenant exports (`exportTenantData`, one JSON document of a whole tenant) are bounded. */
export interface ExportConfig {
  /** Exports built at once, server-wide (each holds a connection and its document in memory). */
  concurrency: number;
  /** Exports waiting for a turn; beyond, 503 BUSY. One per tenant at a time, running or waiting. */
  queue: number;
  /** Largest export, as JSON text of the tenant's rows; beyond, EXPORT_TOO_LARGE. 0: no bound. */
  maxBytes: number;
  /** Seconds an export may take in PostgreSQL (below DATABASE_QUERY_TIMEOUT); beyond, EXPORT_TOO_LARGE. */
  timeoutSeconds: number;
}

/**
 * The export's time limit defaults to two thirds of the query timeout (20 s of 30): PostgreSQL
 * ends a slow export (EXPORT_TOO_LARGE) before the client-side timeout would report an outage.
 */
function readExportConfig(env: NodeJS.ProcessEnv, queryTimeoutSeconds: number): ExportConfig {
  const timeoutFallback = queryTimeoutSeconds > 0 ? Math.max(1, Math.floor((queryTimeoutSeconds * 2) / 3)) : 20;
  return {
    concurrency: integer(env, "EXPORT_CONCURRENCY", 1, 1, 1_000),
    queue: integer(env, "EXPORT_QUEUE", 4, 0, 100_000),
    maxBytes: integer(env, "EXPORT_MAX_BYTES", 50_000_000, 0, 200_000_000),
    timeoutSeconds: integer(env, "EXPORT_TIMEOUT", timeoutFallback, 1, 86_400),
  };
}

/** Attempts allowed per window; each is reserved before bcrypt runs (see app_private.reserve_attempts). */
export interface ThrottleConfig {
  /** Wrong passwords for one e-mail per login window (a right one clears the count). */
  loginFailuresPerEmail: number;
  /** Logins from one client address per login window (a successful one is given back). */
  loginAttemptsPerAddress: number;
  loginWindowSeconds: number;
  /** Wrong current passwords per user per login window, on change-password, change-email and confirm-password together. */
  passwordChangeFailuresPerUser: number;
  /** Seconds a session may make sensitive changes (the admin role, deleting the tenant) after confirming the password (sudo mode). */
  reauthenticationTtlSeconds: number;
  /** Registrations (each creates a schema) per client address and per e-mail per hour. */
  registrationsPerAddressPerHour: number;
  registrationsPerEmailPerHour: number;
}

export interface JwtConfig {
  algorithm: "HS256" | "RS256" | "ES256";
  /** HS256: the secret; RS256/ES256: the PEM private key. */
  signingKey: string;
  /** HS256: the secret; RS256/ES256: the PEM public key. */
  verifyingKey: string;
  issuer: string;
  audience: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

/**
 * Reads the server settings. Without JWT_SECRET (or a key pair), `generatedSecret` is used: in
 * development it is generated once and kept in the data folder; production refuses to start.
 */
export function readServerConfig(env: NodeJS.ProcessEnv = process.env, generatedSecret?: string): ServerConfig {
  const queryTimeoutSeconds = integer(env, "DATABASE_QUERY_TIMEOUT", 30, 0, 86_400);
  const poolSize = integer(env, "DATABASE_POOL_SIZE", 10, 1, 500);
  const port = integer(env, "PORT", 3000, 0, 65535);
  return {
    port,
    workers: integer(env, "WEB_CONCURRENCY", 1, 1, 64),
    logLevel: text(env, "LOG_LEVEL", "info"),
    preparedStatements: flag(env, "DATABASE_PREPARED_STATEMENTS", true),
    pgStatementCacheSize: integer(env, "DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE", 100, 0, 1_000_000),
    corsOrigins: (optional(env, "CORS_ORIGINS") ?? "").split(",").map((o) => o.trim()).filter(Boolean),
    poolSize,
    poolMaxLifetimeSeconds: integer(env, "DATABASE_POOL_MAX_LIFETIME", 300, 0, 86_400),
    connectTimeoutSeconds: integer(env, "DATABASE_CONNECT_TIMEOUT", 10, 1, 600),
    queryTimeoutSeconds,
    keepAliveSeconds: integer(env, "DATABASE_KEEPALIVE", 10, 0, 7_200),
    bcryptCost: integer(env, "BCRYPT_COST", 12, 4, 15),
    bcryptConcurrency: integer(env, "BCRYPT_CONCURRENCY", Math.max(1, os.availableParallelism() - 1), 1, 64),
    bcryptQueueLimit: integer(env, "BCRYPT_QUEUE_LIMIT", 8, 0, 100_000),
    bcryptNice: integer(env, "BCRYPT_NICE", 5, 0, 19),
    throttle: {
      loginFailuresPerEmail: integer(env, "LOGIN_MAX_FAILURES_PER_EMAIL", 5, 1, 1_000_000),
      loginAttemptsPerAddress: integer(env, "LOGIN_MAX_ATTEMPTS_PER_ADDRESS", 50, 1, 1_000_000),
      loginWindowSeconds: integer(env, "LOGIN_THROTTLE_WINDOW", 900, 1, 86_400),
      passwordChangeFailuresPerUser: integer(env, "CHANGE_PASSWORD_MAX_FAILURES", 5, 1, 1_000_000),
      reauthenticationTtlSeconds: integer(env, "REAUTHENTICATION_TTL", 600, 1, 86_400),
      registrationsPerAddressPerHour: integer(env, "REGISTRATIONS_PER_ADDRESS_PER_HOUR", 10, 1, 1_000_000),
      registrationsPerEmailPerHour: integer(env, "REGISTRATIONS_PER_EMAIL_PER_HOUR", 3, 1, 1_000_000),
    },
    trustProxy: trustProxySetting(optional(env, "TRUST_PROXY")),
    explorer: flag(env, "ENABLE_GRAPHIQL", !isProduction(env)),
    jwt: readJwtConfig(env, generatedSecret),
    graphql: readGraphqlConfig(env, queryTimeoutSeconds),
    metrics: { token: optional(env, "METRICS_TOKEN"), open: !isProduction(env) },
    clientConcurrency: {
      active: integer(env, "HTTP_CLIENT_CONCURRENCY", 8, 1, 100_000),
      waiting: integer(env, "HTTP_CLIENT_QUEUE", 128, 0, 1_000_000),
    },
    serverConcurrency: {
      // Twice the pool: while some requests hold a connection, as many are planned or answered, so
      // no connection waits idle for the next turn (a line as wide as the pool cost 10 % of reads).
      active: integer(env, "HTTP_SERVER_CONCURRENCY", 2 * poolSize, 1, 100_000),
      waiting: integer(env, "HTTP_SERVER_QUEUE", 256, 0, 1_000_000),
    },
    connectionsPerAddress: integer(env, "HTTP_CLIENT_CONNECTIONS", env.TRUST_PROXY ? 0 : 256, 0, 1_000_000),
    maxConnections: integer(env, "HTTP_MAX_CONNECTIONS", Math.max(64, Math.floor(openFileLimit() * 0.75)), 1, 10_000_000),
    httpTimeouts: {
      headersMs: integer(env, "HTTP_HEADERS_TIMEOUT_MS", 10_000, 100, 600_000),
      requestMs: integer(env, "HTTP_REQUEST_TIMEOUT_MS", 30_000, 100, 3_600_000),
      socketMs: integer(env, "HTTP_SOCKET_TIMEOUT_MS", 60_000, 1_000, 3_600_000),
    },
    pipelinedRequests: integer(env, "HTTP_PIPELINED_REQUESTS", 16, 1, 10_000),
    slowSockets: {
      slowMs: integer(env, "HTTP_SLOW_REQUEST_MS", 2_000, 100, 600_000),
      graceMs: integer(env, "HTTP_RECEIVE_GRACE_MS", 5_000, 100, 600_000),
      minRate: integer(env, "HTTP_MIN_RECEIVE_RATE", 500, 0, 100_000_000),
    },
    bodyBudgetBytes: integer(env, "HTTP_BODY_BUDGET_MB", defaultBodyBudgetMb(), 1, 65_536) * MB,
    probe: {
      port: integer(env, "PROBE_PORT", port === 0 || port === 65535 ? 0 : port + 1, 0, 65535),
      maxConnections: integer(env, "PROBE_MAX_CONNECTIONS", 32, 1, 100_000),
      perAddress: integer(env, "PROBE_REQUESTS_PER_ADDRESS", 2, 1, 1_000),
    },
    mail: readMailConfig(env, port),
    jobs: readJobsConfig(env),
  };
}

const MB = 1024 * 1024;

/**
 * A 256th of the memory the process may use (its cgroup's limit, or the machine's), from 16 to
 * 256 MB: 64 MB on a 16 GB machine. Bodies buffered beyond that are a flood, not traffic.
 */
function defaultBodyBudgetMb(): number {
  const constrained = process.constrainedMemory();
  const memory = constrained > 0 ? Math.min(constrained, os.totalmem()) : os.totalmem();
  return Math.min(256, Math.max(16, Math.floor(memory / 256 / MB)));
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

function readJwtConfig(env: NodeJS.ProcessEnv, generatedSecret: string | undefined): JwtConfig {
  const common = {
    issuer: text(env, "JWT_ISSUER", "stoflow"),
    audience: text(env, "JWT_AUDIENCE", "stoflow-api"),
    accessTtlSeconds: integer(env, "ACCESS_TOKEN_TTL", 900, 30, 86_400),
    refreshTtlSeconds: integer(env, "REFRESH_TOKEN_TTL", 30 * 86_400, 60, 365 * 86_400),
  };
  const privateKey = optional(env, "JWT_PRIVATE_KEY");
  const publicKey = optional(env, "JWT_PUBLIC_KEY");
  const algorithm = text(env, "JWT_ALGORITHM", "RS256") === "ES256" ? "ES256" : "RS256";
  if (privateKey || publicKey) {
    if (!privateKey || !publicKey) throw new Error("JWT_PRIVATE_KEY and JWT_PUBLIC_KEY go together");
    return { ...common, algorithm, signingKey: privateKey, verifyingKey: publicKey };
  }
  const secret = optional(env, "JWT_SECRET") ?? (isProduction(env) ? undefined : generatedSecret);
  if (!secret || secret.length < 32) {
    throw new Error("JWT_SECRET must be set to at least 32 characters (or JWT_PRIVATE_KEY/JWT_PUBLIC_KEY)");
  }
  return { ...common, algorithm: "HS256", signingKey: secret, verifyingKey: secret };
}

/**
 * The settings of operator commands that hash passwords (`stoflow tenants:create`): BCRYPT_COST
 * and the rest as the server reads them, but they sign no tokens, so no JWT secret is needed.
 */
export function readOperatorConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  return readServerConfig({ ...env, NODE_ENV: "development" }, "stoflow-cli-signs-no-tokens-000000000000");
}

/**
 * Every setting the readers above read, with its default as text (undefined: unset by default).
 * A default computed from the machine or from other settings is given as computed here (e.g.
 * BCRYPT_CONCURRENCY: the cores less one); the README says how it is computed.
 */
export function settingsCatalog(): Map<string, string | undefined> {
  return recordSettings((recording) => {
    readDatabaseConfig(recording());
    readServerConfig(recording(), "a-generated-secret-of-32-characters!");
  });
}

import express, { type Request, type RequestHandler, type Response } from "express";
import type pg from "pg";
import { clientConcurrency, type Concurrency } from "../admission/concurrency.ts";
import { statement } from "../db/statements.ts";
import { UNAVAILABLE } from "../db/unavailable.ts";
import { sharedWhileRunning } from "./shared-while-running.ts";

/** GET / — what this is and where to go (the explorer only where it is served). */
export function rootRoute(version: string, explorer: boolean) {
  const links = {
    graphql: "/graphql",
    ...(explorer ? { graphiql: "/graphiql" } : {}),
    health: "/health",
    docs: "/docs",
    openapi: "/openapi.json",
  };
  return (_req: Request, res: Response) => {
    res.json({ message: "Stoflow API", version, ...links });
  };
}

/** 200 with `body`, or 503 with Retry-After, like every other answer while the database is away. */
function answer(res: Response, ok: boolean, body: Record<string, unknown>) {
  if (!ok) res.setHeader("Retry-After", String(UNAVAILABLE.retryAfterSeconds));
  res.status(ok ? 200 : UNAVAILABLE.status).json(body);
}

/** How long a database found away is reported away without asking it again. */
const AWAY_KEPT_MS = 1_000;

/** Why the API's event loop is said stalled (probe-thread.ts), or undefined while it turns. */
export type LoopStalled = () => string | undefined;

/**
 * GET /health — 200 when the database answers within two seconds, 503 when it does not (or
 * when `loopStalled` says the API's event loop has stopped turning, on the probe port). A
 * failed check is kept for a second: an address's probes are worked on a few at a time
 * (PROBE_REQUESTS_PER_ADDRESS), so the ones waiting behind a check that timed out answer at once
 * instead of timing out one after another.
 */
export function healthRoute(pool: pg.Pool, loopStalled: LoopStalled = () => undefined) {
  let awayUntil = 0;
  const databaseAnswers = sharedWhileRunning(async () => {
    if (Date.now() < awayUntil) return false;
    const ok = await Promise.race([
      pool.query("select 1").then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => setTimeout(resolve, 2000, false).unref()),
    ]);
    if (!ok) awayUntil = Date.now() + AWAY_KEPT_MS;
    return ok;
  });
  return async (_req: Request, res: Response) => {
    const stalled = loopStalled();
    if (stalled) return answer(res, false, { status: "unavailable", service: "stoflow-api", reason: stalled, code: UNAVAILABLE.code });
    const ok = await databaseAnswers();
    answer(
      res,
      ok,
      ok
        ? { status: "ok", service: "stoflow-api", database: "ok" }
        : { status: "unavailable", service: "stoflow-api", database: "unreachable", code: UNAVAILABLE.code },
    );
  };
}

/** What the readiness check reads from the database (app_private.server_status). */
export interface ServerStatus {
  applied_migrations: number;
  tenant_schemas_behind: number;
  tenants: number;
  /** The first 20 tenant ids of the schemas behind. */
  lagging_tenants: number[];
}

export async function serverStatus(pool: pg.Pool, prepared: boolean): Promise<ServerStatus> {
  const { rows } = await pool.query<ServerStatus>(
    statement("stoflow_server_status", "select * from app_private.server_status()", prepared),
  );
  return rows[0];
}

/**
 * GET /ready — 200 when the database answers, every committed migration is applied and the
 * connections are fit (no transaction-mode pooler dropping prepared statements); 503 with
 * the reason otherwise (a load balancer keeps traffic away). Tenant schemas that lag behind the
 * template are listed, but do not make the server unready: it serves every other tenant, and the
 * lagging ones get 503 TENANT_MAINTENANCE.
 */
export function readyRoute(
  pool: pg.Pool,
  committedMigrations: number,
  preparedStatements: boolean,
  connectionProblem: () => Promise<string | undefined>,
  loopStalled: LoopStalled = () => undefined,
) {
  const currentStatus = sharedWhileRunning(() => serverStatus(pool, preparedStatements).catch(() => undefined));
  return async (_req: Request, res: Response) => {
    const stalled = loopStalled();
    if (stalled) return answer(res, false, { status: "not ready", reason: stalled, code: UNAVAILABLE.code });
    const status = await currentStatus();
    if (!status) return answer(res, false, { status: "not ready", reason: "database unreachable", code: UNAVAILABLE.code });
    const problem = await connectionProblem();
    if (problem) return answer(res, false, { status: "not ready", reason: problem, code: "NOT_READY" });
    const pending = committedMigrations - status.applied_migrations;
    if (pending > 0) return answer(res, false, { status: "not ready", reason: `${pending} migrations pending`, code: "NOT_READY" });
    const lagging =
      status.tenant_schemas_behind > 0
        ? { tenant_schemas_behind: status.tenant_schemas_behind, lagging_tenants: status.lagging_tenants }
        : {};
    answer(res, true, { status: "ready", ...lagging });
  };
}

/** What the probes read: their connection, and what /ready checks. */
export interface ProbeSources {
  /** The probes' own connection (health and readiness checks). */
  pool: pg.Pool;
  committedMigrations: number;
  /** DATABASE_PREPARED_STATEMENTS: the readiness query as a named prepared statement. */
  preparedStatements: boolean;
  /** What makes the database connections unfit (a transaction-mode pooler that drops prepared statements…), checked by /ready. */
  connectionProblem: () => Promise<string | undefined>;
  /** Probe requests (/health, /ready, /metrics) of one address at once, and waiting. */
  limits: Concurrency;
  /** GET /metrics (metrics.ts's metricsRoute). */
  metrics: RequestHandler;
  loopStalled?: LoopStalled;
}

/**
 * /health, /ready and /metrics: on the API's port (pipeline.ts) and on the probe port's thread
 * (probe-worker.ts). They take no token (the metrics token is no user's) and do not wait behind a
 * client's requests, only behind their own address's probes (a few sockets pipelining /health
 * from five addresses took both ports down on a busy machine: each address had 16 in progress
 * at all times).
 */
export function probeRoutes(sources: ProbeSources): express.Router {
  const { pool, loopStalled } = sources;
  const line = clientConcurrency(sources.limits);
  const probes = express.Router();
  probes.get("/health", line, healthRoute(pool, loopStalled));
  probes.get(
    "/ready",
    line,
    readyRoute(pool, sources.committedMigrations, sources.preparedStatements, sources.connectionProblem, loopStalled),
  );
  probes.get("/metrics", line, sources.metrics);
  return probes;
}

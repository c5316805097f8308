import type { Request, Response } from "express";
import type pg from "pg";
import { statement } from "../db/statements.ts";
import { UNAVAILABLE } from "../db/unavailable.ts";

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

/**
 * `work`, shared by the requests that come while it runs: a crowd of probes (pipelined on one
 * socket or not) puts one query on the probes' connection at a time, not one each that queue up
 * in memory (the second outside attack on issue 24: 200 pipelined /health per 20 ms took the
 * server to 4.5 GB).
 */
function sharedWhileRunning<T>(work: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () =>
    (running ??= work().finally(() => {
      running = undefined;
    }));
}

/** How long a database found away is reported away without asking it again. */
const AWAY_KEPT_MS = 1_000;

/**
 * GET /health — 200 when the database answers within two seconds, 503 when it does not. A
 * failed check is kept for a second: an address's probes are worked on a few at a time
 * (PROBE_REQUESTS_PER_ADDRESS), so the ones waiting behind a check that timed out answer at once
 * instead of timing out one after another.
 */
export function healthRoute(pool: pg.Pool) {
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
) {
  const currentStatus = sharedWhileRunning(() => serverStatus(pool, preparedStatements).catch(() => undefined));
  return async (_req: Request, res: Response) => {
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

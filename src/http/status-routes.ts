import type { Request, Response } from "express";
import type pg from "pg";
import { statement } from "../db/statements.ts";

/** GET / — what this is and where to go. */
export function rootRoute(version: string) {
  return (_req: Request, res: Response) => {
    res.json({ message: "Stoflow API", version, graphql: "/graphql", graphiql: "/graphiql", health: "/health" });
  };
}

/** GET /health — 200 when the database answers within two seconds, 503 when it does not. */
export function healthRoute(pool: pg.Pool) {
  return async (_req: Request, res: Response) => {
    const database = await Promise.race([
      pool.query("select 1").then(() => "ok", () => "unreachable"),
      new Promise<string>((resolve) => setTimeout(resolve, 2000, "unreachable").unref()),
    ]);
    res.status(database === "ok" ? 200 : 503).json({
      status: database === "ok" ? "ok" : "unavailable",
      service: "stoflow-api",
      database,
    });
  };
}

/** What the readiness check reads from the database (app_private.server_status). */
export interface ServerStatus {
  applied_migrations: number;
  tenant_schemas_behind: number;
  tenants: number;
}

export async function serverStatus(pool: pg.Pool): Promise<ServerStatus> {
  const { rows } = await pool.query<ServerStatus>(statement("stoflow_server_status", "select * from app_private.server_status()"));
  return rows[0]!;
}

/**
 * GET /ready — 200 when the database answers, every committed migration is applied and no tenant
 * schema misses a DDL step; 503 with the reason otherwise (a load balancer keeps traffic away).
 */
export function readyRoute(pool: pg.Pool, committedMigrations: number) {
  return async (_req: Request, res: Response) => {
    const status = await serverStatus(pool).catch(() => undefined);
    const reason = !status ? "database unreachable"
      : status.applied_migrations < committedMigrations ? `${committedMigrations - status.applied_migrations} migrations pending`
      : status.tenant_schemas_behind > 0 ? `${status.tenant_schemas_behind} tenant schemas behind`
      : undefined;
    res.status(reason ? 503 : 200).json({ status: reason ? "not ready" : "ready", ...(reason ? { reason } : {}) });
  };
}

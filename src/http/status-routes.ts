import type { Request, Response } from "express";
import type pg from "pg";

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

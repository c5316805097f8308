import type { NextFunction, Request, Response } from "express";
import type pg from "pg";
import client from "prom-client";

/** Prometheus metrics of one gateway: requests, latency, pool use, auth refusals, tenants. */
export interface Metrics {
  registry: client.Registry;
  authFailures: client.Counter<"code">;
  middleware: (req: Request, res: Response, next: NextFunction) => void;
}

/** Route labels are fixed strings, so that no client can grow the number of series. */
function routeOf(path: string): string {
  if (path === "/graphql" || path === "/health" || path === "/ready" || path === "/metrics" || path === "/") return path;
  if (path.startsWith("/api/auth/")) return path.split("/").slice(0, 4).join("/");
  return "other";
}

export function createMetrics(pool: pg.Pool, tenantCount: () => Promise<number>): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: "stoflow_process_" });
  const requests = new client.Counter({ name: "stoflow_http_requests_total", help: "HTTP requests answered.", labelNames: ["route", "method", "status"], registers: [registry] });
  const latency = new client.Histogram({
    name: "stoflow_http_request_duration_seconds", help: "Time to answer an HTTP request.", labelNames: ["route"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry],
  });
  const authFailures = new client.Counter({ name: "stoflow_auth_failures_total", help: "Requests refused by authentication, by code.", labelNames: ["code"], registers: [registry] });
  new client.Gauge({
    name: "stoflow_db_pool_connections", help: "Connections of the server's pool, by state.", labelNames: ["state"], registers: [registry],
    collect() {
      this.set({ state: "total" }, pool.totalCount);
      this.set({ state: "idle" }, pool.idleCount);
      this.set({ state: "waiting" }, pool.waitingCount);
    },
  });
  new client.Gauge({
    name: "stoflow_tenants", help: "Tenants in the database.", registers: [registry],
    async collect() {
      this.set(await tenantCount().catch(() => NaN));
    },
  });
  return {
    registry,
    authFailures,
    middleware(req, res, next) {
      const route = routeOf(req.path);
      const stop = latency.startTimer({ route });
      res.on("finish", () => {
        stop();
        requests.inc({ route, method: req.method, status: String(res.statusCode) });
      });
      next();
    },
  };
}

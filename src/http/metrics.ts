import type { IncomingMessage } from "node:http";
import type { Request, Response } from "express";
import { createHash, timingSafeEqual } from "node:crypto";
import type pg from "pg";
import client from "prom-client";
import { TenantPool } from "../db/tenant-pool.ts";
import type { RequestStep } from "./pipeline.ts";
import { sharedWhileRunning } from "./shared-while-running.ts";

/** Prometheus metrics of one gateway: requests, latency, pool use, auth refusals, tenants. */
export interface Metrics {
  registry: client.Registry;
  authFailures: client.Counter<"code">;
  middleware: RequestStep;
}

/** Paths served by middleware rather than Express routes. */
const MIDDLEWARE_PATHS = new Set(["/graphql", "/graphiql"]);

/**
 * The route a request matched (its pattern, never the raw path), read once the response is sent;
 * anything else is "unmatched": no client can grow the number of series.
 */
function routeOf(req: IncomingMessage): string {
  const { mountPath, path } = req.context;
  const route = (req as Partial<Request>).route as { path?: string } | undefined; // set by Express's router on the REST routes
  if (route?.path) return `${mountPath ?? ""}${route.path}`;
  return MIDDLEWARE_PATHS.has(path) ? path : "unmatched";
}

/**
 * First in a router mounted under `declared`: keeps that path, as declared, for the route's label.
 * Not `req.baseUrl`: Express matches paths whatever their case, and `baseUrl` keeps the case sent
 * (`/API/Auth/login` would be a series of its own, one per variant a client invents); and Express
 * gives `req.baseUrl` back to the parent as soon as an async route returns, before it answers.
 */
export function rememberMountPath(declared: string): RequestStep {
  return (req, _res, next) => {
    req.context.mountPath = declared;
    next();
  };
}

/** `make(labels…)` remembered per distinct label values (routes, methods and statuses are few). */
function cachedChildren<T>(make: (...labels: string[]) => T): (...labels: string[]) => T {
  const children = new Map<string, T>();
  return (...labels) => {
    const key = labels.join("\u0000");
    let child = children.get(key);
    if (child === undefined) {
      child = make(...labels);
      children.set(key, child);
    }
    return child;
  };
}

/** Documents the GraphQL gate keeps parsed, and the memory they hold. */
export type DocumentCacheSize = () => { documents: number; bytes: number };

/** What the line of never-seen GraphQL documents did: tasks run, documents refused, event-loop milliseconds spent. */
export type NewDocumentCounts = { run: number; refused: number; spentMs: number };

export function createMetrics(
  pool: pg.Pool,
  tenantCount: () => Promise<number>,
  documentCache: DocumentCacheSize,
  newDocuments: NewDocumentCounts,
): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: "stoflow_process_" });
  const requests = new client.Counter({
    name: "stoflow_http_requests_total",
    help: "HTTP requests answered.",
    labelNames: ["route", "method", "status"],
    registers: [registry],
  });
  const latency = new client.Histogram({
    name: "stoflow_http_request_duration_seconds",
    help: "Time to answer an HTTP request.",
    labelNames: ["route"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const authFailures = new client.Counter({
    name: "stoflow_auth_failures_total",
    help: "Requests refused by authentication, by code.",
    labelNames: ["code"],
    registers: [registry],
  });
  new client.Gauge({
    name: "stoflow_db_pool_connections",
    help: "Connections of the server's pool, by state.",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.set({ state: "total" }, pool.totalCount);
      this.set({ state: "idle" }, pool.idleCount);
      this.set({ state: "waiting" }, pool.waitingCount);
    },
  });
  new client.Counter({
    name: "stoflow_db_pool_borrowed_total",
    help: "Connections a tenant's transaction took from another group of the pool, its own group's being all busy (DATABASE_POOL_GROUPS).",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(pool instanceof TenantPool ? pool.borrowed : 0);
    },
  });
  new client.Gauge({
    name: "stoflow_tenants",
    help: "Tenants in the database.",
    registers: [registry],
    async collect() {
      this.set(await tenantCount().catch(() => NaN));
    },
  });
  new client.Gauge({
    name: "stoflow_graphql_document_cache",
    help: "GraphQL documents kept parsed (documents) and the memory they hold (bytes).",
    labelNames: ["unit"],
    registers: [registry],
    collect() {
      const { documents, bytes } = documentCache();
      this.set({ unit: "documents" }, documents);
      this.set({ unit: "bytes" }, bytes);
    },
  });
  new client.Gauge({
    name: "stoflow_graphql_new_documents",
    help: "Work on never-seen GraphQL documents since start: tasks run (parse and validation, planning, introspection), documents refused 503 BUSY.",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.set({ state: "run" }, newDocuments.run);
      this.set({ state: "refused" }, newDocuments.refused);
    },
  });
  new client.Gauge({
    name: "stoflow_graphql_new_document_seconds",
    help: "Event-loop time spent on never-seen GraphQL documents since start (bounded by GRAPHQL_NEW_DOCUMENT_MS a second).",
    registers: [registry],
    collect() {
      this.set(newDocuments.spentMs / 1000);
    },
  });
  // Label children looked up once per series, not hashed from a label object on every request.
  const latencyOf = cachedChildren((route) => latency.labels(route));
  const requestsOf = cachedChildren((route, method, status) => requests.labels(route, method, status));
  return {
    registry,
    authFailures,
    middleware(req, res, next) {
      const started = performance.now();
      res.on("finish", () => {
        const route = routeOf(req);
        latencyOf(route).observe((performance.now() - started) / 1000);
        requestsOf(route, req.method ?? "", String(res.statusCode)).inc();
      });
      next();
    },
  };
}

/** The metrics' text and its content type: the registry's, rendered where it lives. */
export type RenderMetrics = () => Promise<{ contentType: string; text: string }>;

/** The registry of `metrics`, rendered: once for all the scrapes that come while it is. */
export function renderer({ registry }: Metrics): RenderMetrics {
  return sharedWhileRunning(async () => ({ contentType: registry.contentType, text: await registry.metrics() }));
}

/** GET /metrics: with a token configured, only for requests bearing it; else open, or absent (404) in production. */
export function metricsRoute(render: RenderMetrics, access: { token: string | undefined; open: boolean }) {
  const expected = access.token === undefined ? undefined : digest(access.token);
  return async (req: Request, res: Response) => {
    if (expected) {
      const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      if (!given || !timingSafeEqual(digest(given), expected)) {
        res.setHeader("WWW-Authenticate", "Bearer");
        return res.status(401).json({ detail: "The metrics token is required", code: "UNAUTHENTICATED" });
      }
    } else if (!access.open) {
      return res.status(404).json({ detail: "Not found", code: "NOT_FOUND" });
    }
    const { contentType, text } = await render();
    res.type(contentType).send(text);
  };
}

/** Equal-length digests, so comparing them takes the same time whatever the token. */
function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

import cors from "cors";
import express, { type Express } from "express";
import type pg from "pg";
import type { AuthService } from "../auth/service.ts";
import { authRoutes } from "./auth-routes.ts";
import { bearerAuthentication } from "./bearer.ts";
import type { Logger } from "pino";
import { requestLogging } from "./logging.ts";
import type { Metrics } from "./metrics.ts";
import { healthRoute, readyRoute, rootRoute } from "./status-routes.ts";

export interface AppOptions {
  pool: pg.Pool;
  auth: AuthService;
  corsOrigins: string[];
  /** Express `trust proxy` (TRUST_PROXY): whose X-Forwarded-For gives the client address. */
  trustProxy: boolean | number | string;
  version: string;
  metrics: Metrics;
  logger: Logger;
  committedMigrations: number;
}

/**
 * The Express app before PostGraphile is added: CORS, bearer verification on every route, the
 * status and REST routes. The server adds grafserv, then the 404 and error responders.
 */
export function createApp({ pool, auth, corsOrigins, trustProxy, version, metrics, logger, committedMigrations }: AppOptions): Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(requestLogging(logger));
  app.use(metrics.middleware);
  app.set("trust proxy", trustProxy);
  if (corsOrigins.length > 0) app.use(cors({ origin: corsOrigins, maxAge: 600 }));
  app.use(bearerAuthentication(auth));
  app.get("/", rootRoute(version));
  app.get("/health", healthRoute(pool));
  app.get("/ready", readyRoute(pool, committedMigrations));
  app.get("/metrics", async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use("/api/auth", authRoutes(auth));
  return app;
}

import cors from "cors";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import type pg from "pg";
import type { AuthService } from "../auth/auth-service.ts";
import type { ServerConfig } from "../config/server.ts";
import swaggerUi from "swagger-ui-express";
import { HASHING_ROUTES } from "../auth/hashing-operations.ts";
import { AUTH_PATH, authRoutes, REST_BODY_BYTES } from "./auth-routes.ts";
import { bearerAuthentication } from "./bearer.ts";
import { clientConcurrency, serverConcurrency } from "./concurrency.ts";
import type { Logger } from "pino";
import { errorResponder, notFound, sendError, type Answer } from "./errors.ts";
import { requestLogging } from "./logging.ts";
import type { Step } from "./graphql-route.ts";
import { metricsRoute, type Metrics } from "./metrics.ts";
import { serveLinkPages } from "./link-pages.ts";
import { openApiDocument } from "./openapi.ts";
import { healthRoute, readyRoute, rootRoute } from "./status-routes.ts";

export interface AppOptions {
  /** The probes' own connection (health and readiness checks). */
  pool: pg.Pool;
  auth: AuthService;
  corsOrigins: string[];
  /** Express `trust proxy` (TRUST_PROXY): whose X-Forwarded-For gives the client address. */
  trustProxy: boolean | number | string;
  version: string;
  /** The explorer is served at /graphiql (ENABLE_GRAPHIQL): only then do / and the documents name it. */
  explorer: boolean;
  /** Answer the paths of the e-mailed links with pages of our own (no APP_URL: development). */
  linkPages: boolean;
  metrics: Metrics;
  logger: Logger;
  committedMigrations: number;
  metricsAccess: ServerConfig["metrics"];
  clientLimits: ServerConfig["clientConcurrency"];
  serverLimits: ServerConfig["serverConcurrency"];
  /** Largest /graphql body (GRAPHQL_MAX_BODY_BYTES). */
  graphqlMaxBodyBytes: number;
  /** DATABASE_PREPARED_STATEMENTS: the readiness query as a named prepared statement. */
  preparedStatements: boolean;
  /** What makes the database connections unfit (a transaction-mode pooler that drops prepared statements…), checked by /ready. */
  connectionProblem: () => Promise<string | undefined>;
}

/** The Express app, and the steps of /graphql, which is served past Express (see graphql-route.ts). */
export interface HttpApp {
  app: Express;
  /** For /graphql, in this order: log, metrics, CORS, the client's line, the body, the server's line, the bearer check. */
  graphqlSteps: Step[];
  /** /health, /ready and /metrics alone, for the probe port. */
  probeApp: Express;
}

/**
 * The Express app before PostGraphile is added: CORS, bearer verification on every route, the
 * status and REST routes, their OpenAPI document and its browser. The server adds grafserv, then the 404 and error responders.
 */
export function createApp({ pool, auth, corsOrigins, trustProxy, version, explorer, linkPages, metrics, logger, committedMigrations, metricsAccess, clientLimits, serverLimits, graphqlMaxBodyBytes, preparedStatements, connectionProblem }: AppOptions): HttpApp {
  const app = express();
  const logging = requestLogging(logger);
  const allowOrigins = corsOrigins.length > 0 ? cors({ origin: corsOrigins, maxAge: 600 }) : undefined;
  const clientLine = clientConcurrency(clientLimits);
  const serverLine = serverConcurrency(serverLimits, (req) => HASHING_ROUTES.has(req.path));
  app.disable("x-powered-by");
  app.use(logging);
  app.use(metrics.middleware);
  app.set("trust proxy", trustProxy);
  if (allowOrigins) app.use(allowOrigins);
  // Probes and metrics first: they take no token (the metrics token is no user's) and do not
  // wait behind a client's requests. They are served on the probe port too.
  const probes = express.Router();
  probes.get("/health", healthRoute(pool));
  probes.get("/ready", readyRoute(pool, committedMigrations, preparedStatements, connectionProblem));
  probes.get("/metrics", metricsRoute(metrics, metricsAccess));
  app.use(probes);
  // A client's turn first (its own line), then its body is received, then the server's turn: one
  // address holds at most its share, and a client sending its body slowly holds none of the
  // server's places (grafserv takes the received body as it is).
  app.use(clientLine);
  app.use(AUTH_PATH, express.json({ limit: REST_BODY_BYTES }), jsonBodiesOnly);
  app.use(serverLine);
  app.use(bearerAuthentication(auth));
  app.get("/", rootRoute(version, explorer));
  // No icon: an empty answer rather than a 404 logged at warn level for every browser visit.
  app.get("/favicon.ico", (_req, res) => res.status(204).setHeader("Cache-Control", "public, max-age=86400").end());
  app.use(AUTH_PATH, authRoutes(auth));
  if (linkPages) serveLinkPages(app);
  const openApi = openApiDocument(version, { explorer });
  app.get("/openapi.json", (_req, res) => res.json(openApi));
  // Swagger UI from the swagger-ui-dist package, served here: no CDN, no online validator.
  app.use("/docs", swaggerUi.serve, swaggerUi.setup(openApi, { customSiteTitle: "Stoflow REST API", swaggerOptions: { validatorUrl: null } }));
  const graphqlBody = express.raw({ type: () => true, limit: graphqlMaxBodyBytes });
  // On /graphql, each transaction checks the session as it opens: here only the signature and claims.
  const graphqlBearer = bearerAuthentication(auth, { checkedInTransaction: true });
  return {
    app, graphqlSteps: [logging, metrics.middleware, ...(allowOrigins ? [allowOrigins] : []), clientLine, graphqlBody, serverLine, graphqlBearer],
    probeApp: probeApp(probes, metrics),
  };
}

const NOT_JSON: Answer = { status: 415, code: "UNSUPPORTED_MEDIA_TYPE", message: "Send the body as JSON (Content-Type: application/json)" };

/** A REST body in another media type is refused as such (415), not read as an empty object and refused for its fields (422). */
function jsonBodiesOnly(req: Request, res: Response, next: NextFunction): void {
  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  if (hasBody && !req.is("application/json")) return sendError(req, res, NOT_JSON);
  next();
}

/** The probe port's app: the probes and metrics alone, counted in /metrics, not logged (a prober asks every few seconds). */
function probeApp(probes: express.Router, metrics: Metrics): Express {
  const app = express();
  app.disable("x-powered-by");
  app.use(metrics.middleware);
  app.use(probes);
  app.use(notFound);
  app.use(errorResponder(metrics));
  return app;
}

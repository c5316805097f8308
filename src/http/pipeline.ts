import cors from "cors";
import express, { type Express, type Request } from "express";
import type { IncomingMessage, ServerResponse } from "node:http";
import type pg from "pg";
import type { Logger } from "pino";
import swaggerUi from "swagger-ui-express";
import type { AuthService } from "../auth/auth-service.ts";
import { HASHING_ROUTES } from "../auth/hashing-operations.ts";
import type { ServerConfig } from "../config/server.ts";
import { GRAPHQL_PATH } from "../graphql/context.ts";
import { AUTH_PATH, authRoutes, REST_BODY_BYTES } from "./auth-routes.ts";
import { bearerAuthentication, weighedAs } from "./bearer.ts";
import type { BillingFlows } from "../billing/flows.ts";
import { BILLING_PATH, billingRoutes, CHECKOUT_ROUTE, WEBHOOK_BODY_BYTES, WEBHOOK_ROUTE } from "./billing-routes.ts";
import { clientConcurrency, serverConcurrency } from "../admission/concurrency.ts";
import { errorResponder, notFound, sendError, type Answer } from "./errors.ts";
import { serveLinkPages } from "./link-pages.ts";
import { requestLogging } from "./logging.ts";
import { metricsRoute, renderer, type Metrics } from "./metrics.ts";
import { openApiDocument } from "./openapi.ts";
import { probeRoutes, rootRoute } from "./status-routes.ts";

/**
 * A request's way through the server, in one file (graphile/starter's makeApp; PostgREST's App.hs):
 * `/graphql` as one ordered list of steps run on Node's own request, every other path on Express,
 * its middleware installed one call after another. Before either, the listeners (listeners.ts)
 * open the request's context (request-context.ts: path, client address, then the session), which
 * every step and GraphQL's context callback read.
 */

/**
 * One step of a request's way, on Node's own request and answer: `next()` goes on, `next(error)`
 * hands the error to the error responder, answering stops. (Not grafast's `Step`, a plan's node.)
 * The same functions are installed on Express for the other routes.
 */
export type RequestStep = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => unknown;
type ErrorStep = (error: unknown, req: IncomingMessage, res: ServerResponse, next: unknown) => unknown;
type Listener = (req: IncomingMessage, res: ServerResponse) => void;

export interface PipelineOptions {
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
  /** Probe requests (/health, /ready, /metrics) of one address at once, and waiting. */
  probeLimits: ServerConfig["clientConcurrency"];
  /** Largest /graphql body (GRAPHQL_MAX_BODY_BYTES). */
  graphqlMaxBodyBytes: number;
  /** DATABASE_PREPARED_STATEMENTS: the readiness query as a named prepared statement. */
  preparedStatements: boolean;
  /** What makes the database connections unfit (a transaction-mode pooler that drops prepared statements…), checked by /ready. */
  connectionProblem: () => Promise<string | undefined>;
  /** grafserv's handler (received-body-grafserv.ts): the last step of /graphql, and the explorer (/graphiql) on Express. */
  graphql: RequestStep;
  /** Checkout, the subscription's state and Stripe's webhook (billing-routes.ts). */
  billing: BillingFlows;
}

/** The listeners' request handlers, and the Express app of the other routes. */
export interface Pipeline {
  /** The API's (PORT): /graphql through its steps, everything else through Express; behind the context (request-context.ts). */
  listener: Listener;
  /** Express's compiled `trust proxy` (TRUST_PROXY), for the addresses of sockets and bodies (listeners.ts). */
  trustProxy: (address: string, hop: number) => boolean;
  app: Express;
}

export function createPipeline(options: PipelineOptions): Pipeline {
  const { pool, auth, corsOrigins, trustProxy, metrics, logger, clientLimits, serverLimits, graphqlMaxBodyBytes, graphql } = options;
  const app = express();
  app.set("trust proxy", trustProxy);
  const trust = app.get("trust proxy fn") as Pipeline["trustProxy"];
  const logging = requestLogging(logger);
  const allowOrigins = corsOrigins.length > 0 ? cors({ origin: corsOrigins, maxAge: 600 }) : undefined;
  const clientLine = clientConcurrency(clientLimits);
  const serverLine = serverConcurrency(
    serverLimits,
    (path) => HASHING_ROUTES.has(path),
    (req) => weighedAs(auth, req),
  );
  const answerError = errorResponder((code) => metrics.authFailures.inc({ code }));
  // Probes and metrics (status-routes.ts), also served on the probe port's thread (probe-thread.ts).
  // They wait in no client's line here either: a load balancer checking this port during a crowd
  // is not told the server is down.
  const probes = probeRoutes({
    pool,
    committedMigrations: options.committedMigrations,
    preparedStatements: options.preparedStatements,
    connectionProblem: options.connectionProblem,
    limits: options.probeLimits,
    metrics: metricsRoute(renderer(metrics), options.metricsAccess),
  });

  // POST /graphql, in this order (the README's "Architecture" lists them with their files). A
  // client's turn first (its own line), then its body is received, then the server's turn: one
  // address holds at most its share, and a client sending its body slowly holds none of the
  // server's turns. Each transaction checks the session as it opens: here only the signature and claims.
  const graphqlSteps: RequestStep[] = [
    logging, // request id, one log line (logging.ts)
    metrics.middleware, // count and time (metrics.ts)
    ...(allowOrigins ? [allowOrigins] : []), // CORS (cors)
    clientLine, // the client's line (admission/concurrency.ts)
    express.raw({ type: () => true, limit: graphqlMaxBodyBytes }) as RequestStep, // the body, within GRAPHQL_MAX_BODY_BYTES (body-parser, written for Node's request)
    serverLine, // the server's line (admission/concurrency.ts)
    bearerAuthentication(auth, { checkedInTransaction: true }), // the token's signature and claims (bearer.ts)
    graphql, // grafserv (graphql/received-body-grafserv.ts), then the preset's plugins (graphql/preset.ts)
  ];

  // Every other path, on Express: the same steps, then the routes.
  app.disable("x-powered-by");
  app.use(logging);
  app.use(metrics.middleware);
  if (allowOrigins) app.use(allowOrigins);
  app.use(probes);
  app.use(clientLine);
  app.use(AUTH_PATH, express.json({ limit: REST_BODY_BYTES }), jsonBodiesOnly);
  // Stripe's webhook: its exact bytes (the signature covers them), whatever their media type.
  app.use(BILLING_PATH + WEBHOOK_ROUTE, express.raw({ type: () => true, limit: WEBHOOK_BODY_BYTES }));
  app.use(BILLING_PATH + CHECKOUT_ROUTE, express.json({ limit: REST_BODY_BYTES }), jsonBodiesOnly);
  app.use(serverLine);
  app.use(bearerAuthentication(auth));
  app.get("/", rootRoute(options.version, options.explorer));
  // No icon: an empty answer rather than a 404 logged at warn level for every browser visit.
  app.get("/favicon.ico", (_req, res) => res.status(204).setHeader("Cache-Control", "public, max-age=86400").end());
  app.use(AUTH_PATH, authRoutes(auth));
  app.use(BILLING_PATH, billingRoutes(options.billing));
  if (options.linkPages) serveLinkPages(app);
  const openApi = openApiDocument(options.version, { explorer: options.explorer });
  app.get("/openapi.json", (_req, res) => res.json(openApi));
  // Swagger UI from the swagger-ui-dist package, served here: no CDN, no online validator.
  app.use(
    "/docs",
    swaggerUi.serve,
    swaggerUi.setup(openApi, { customSiteTitle: "Stoflow REST API", swaggerOptions: { validatorUrl: null } }),
  );
  app.use(graphql); // the explorer (/graphiql), when enabled
  app.use(notFound);
  app.use(answerError);

  return {
    listener: routeRequests(runSteps(graphqlSteps, notFound, answerError), app),
    trustProxy: trust,
    app,
  };
}

/**
 * `steps` run in order as plain functions on Node's request: Express's router, its per-request
 * prototype swaps and its lazy getters cost more CPU per request than everything else the gateway
 * adds (docs/benchmarks.md). A step's error, or a request none of the steps answered, goes to
 * `onError` / `notFound`, as on the Express app.
 */
export function runSteps(steps: RequestStep[], notFound: RequestStep, onError: ErrorStep): Listener {
  return (req, res) => {
    let index = 0;
    // An error that cannot be answered (its answer already started) ends the connection instead.
    const answerError = (error: unknown) => {
      try {
        onError(error, req, res, () => {});
      } catch {
        res.destroy();
      }
    };
    const next = (error?: unknown): void => {
      if (error !== undefined && error !== "route" && error !== "router") return answerError(error);
      const step = steps[index++] ?? notFound;
      try {
        const result = step(req, res, next);
        if (result instanceof Promise) result.catch(next);
      } catch (thrown) {
        next(thrown);
      }
    };
    next();
  };
}

/** `/graphql` through its steps, everything else through `app`. */
export function routeRequests(graphql: Listener, app: Listener): Listener {
  return (req, res) => (req.context.path === GRAPHQL_PATH ? graphql(req, res) : app(req, res));
}

const NOT_JSON: Answer = { status: 415, code: "UNSUPPORTED_MEDIA_TYPE", message: "Send the body as JSON (Content-Type: application/json)" };

/** A REST body in another media type is refused as such (415), not read as an empty object and refused for its fields (422). */
function jsonBodiesOnly(req: Request, res: ServerResponse, next: () => void): void {
  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  if (hasBody && !req.is("application/json")) return sendError(req, res, NOT_JSON);
  next();
}

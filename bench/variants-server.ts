import { billingFlows } from "../src/billing/flows.ts";
import { LiveHub } from "../src/live/hub.ts";
import express from "express";
import http from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv as expressGrafserv } from "postgraphile/grafserv/express/v4";
import { grafserv as nodeGrafserv } from "postgraphile/grafserv/node";
import { pgSettingsFor } from "../src/graphql/context.ts";
import { authServiceFor } from "../src/auth/auth-service.ts";
import { weighedAs } from "../src/http/bearer.ts";
import { readServerConfig } from "../src/config/server.ts";
import { createPool } from "../src/db/pool.ts";
import { openTransactionsInOneRoundTrip } from "../src/db/patches/transaction-opening.ts";
import { introspectWithoutTenantSchemas } from "../src/db/patches/introspection.ts";
import { graphqlGuards, makePreset } from "../src/graphql/preset.ts";
import { clientConcurrency, serverConcurrency } from "../src/admission/concurrency.ts";
import { requestLogging } from "../src/http/logging.ts";
import { notFound } from "../src/http/errors.ts";
import { routeRequests, runSteps, type RequestStep } from "../src/http/pipeline.ts";
import { withContext } from "../src/http/request-context.ts";
import { ReceivedBodyGrafserv } from "../src/graphql/received-body-grafserv.ts";
import { createLogger } from "../src/logger.ts";
import { createMetrics } from "../src/http/metrics.ts";
import { GUARD_PLUGINS, variantOf } from "./additions.ts";

/**
 * One step of the decomposition (bench/additions.ts): PostGraphile 5 with the gateway's schema and
 * the same pgSettings from a verified JWT, plus the additions BENCH_VARIANT names, on Express or on
 * grafserv's own node adapter, or (the additions) on the gateway's plain /graphql route. Serves /graphql on PORT, and /health.
 */
const variant = variantOf(process.env.BENCH_VARIANT ?? "vanilla");
const config = readServerConfig(process.env);
const logger = createLogger(undefined, config.logLevel);
const pool = createPool(process.env.DATABASE_URL!, config, logger);
introspectWithoutTenantSchemas(pool);
if (variant.session === "opening") await openTransactionsInOneRoundTrip(pool);
const auth = authServiceFor(pool, config);
const guards = graphqlGuards(config.graphql);
const billing = billingFlows(pool, config.billing, () => "", logger);
const preset = makePreset(pool, auth, config.graphql, { explorer: false, logger, guards, live: new LiveHub(config.live), billing });

const tokenOf = (header: string | undefined) => (header?.startsWith("Bearer ") ? header.slice(7) : undefined);
const pgl = postgraphile({
  ...preset,
  plugins: preset.plugins!.filter((plugin) => variant.guards || !GUARD_PLUGINS.includes(plugin.name)),
  grafast: {
    ...preset.grafast,
    // The verified claims as pgSettings: `before` adds the session check as a round trip of its own.
    async context(requestContext) {
      const token = tokenOf(requestContext.node?.req.headers.authorization);
      // A refused token (expired…) reads as anonymous: the bench counts the errors that follow, and no
      // stack trace is logged per request (276,307 of them once tokens expired mid-run).
      const session =
        token === undefined
          ? undefined
          : await Promise.resolve()
              .then(() => (variant.session === "before" ? auth.authorize(token) : auth.verify(token)))
              .catch(() => undefined);
      // Without the opening statement (which enters the tenant's schema in SQL), the search_path is set here.
      const searchPath = session && variant.session !== "opening" ? { search_path: `client_${session.tenantId}, public` } : {};
      return { session, clientIp: "bench", pgSettings: { ...pgSettingsFor(session), ...searchPath } };
    },
  },
});

let server: http.Server;
if (variant.adapter === "node") {
  server = http.createServer();
  await pgl.createServ(nodeGrafserv).addTo(server);
} else if (variant.adapter === "express") {
  const app = express();
  app.disable("x-powered-by");
  app.get("/health", (_req, res) => res.json({ status: "ok" }));
  server = http.createServer(app);
  await pgl.createServ(expressGrafserv).addTo(app, server);
} else {
  // As the gateway serves /graphql: its steps as plain functions, then grafserv (src/http/pipeline.ts).
  const steps: RequestStep[] = [
    ...(variant.log ? [requestLogging(logger)] : []),
    ...(variant.metrics
      ? [
          createMetrics(
            pool,
            () => Promise.resolve(0),
            () => guards.gate.cacheSize,
            guards.newDocuments.counts,
          ).middleware,
        ]
      : []),
    ...(variant.concurrency
      ? [
          clientConcurrency(config.clientConcurrency),
          serverConcurrency(
            config.serverConcurrency,
            () => false,
            (req) => weighedAs(auth, req),
          ),
        ]
      : []),
    pgl.createServ((preset) => new ReceivedBodyGrafserv(preset)).handler(),
  ];
  const health = (_req: unknown, res: http.ServerResponse) => res.end('{"status":"ok"}');
  server = http.createServer(
    withContext(
      () => false,
      routeRequests(
        runSteps(steps, notFound, (_error, _req, res) => {
          res.statusCode = 500;
          res.end();
        }),
        health,
      ),
    ),
  );
}
server.listen(Number(process.env.PORT));
process.once("SIGTERM", () => {
  server.close();
  void Promise.resolve(pgl.release())
    .then(() => pool.end())
    .then(() => process.exit(0));
});

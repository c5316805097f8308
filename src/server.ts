import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type pg from "pg";
import type { Logger } from "pino";
import { postgraphile } from "postgraphile";
import { makePgAdaptorWithPgClient } from "postgraphile/adaptors/pg";
import { authServiceFor } from "./auth/auth-service.ts";
import { ownAddress } from "./config/mail.ts";
import { type ServerConfig } from "./config/server.ts";
import { ConstraintMessages } from "./db/constraint-messages.ts";
import { createPool } from "./db/pool.ts";
import { cachedPoolerProblem } from "./db/pooler-check.ts";
import { groupUrls, TenantPool } from "./db/tenant-pool.ts";
import { openTransactionsInOneRoundTrip } from "./db/patches/transaction-opening.ts";
import { SessionLiveness } from "./auth/session-liveness.ts";
import { fenceCommitsOf } from "./db/transaction.ts";
import { introspectWithoutTenantSchemas } from "./db/patches/introspection.ts";
import { graphqlGuards, makePreset } from "./graphql/preset.ts";
import { SchemaWatchSubscriber } from "./graphql/schema-watch.ts";
import { createPipeline } from "./http/pipeline.ts";
import { billingFlows } from "./billing/flows.ts";
import { createApiListener } from "./http/listeners.ts";
import { bearerTenant } from "./http/bearer.ts";
import { startProbeThread } from "./http/probe-thread.ts";
import { registerTransportMetrics } from "./http/transport-metrics.ts";
import { ReceivedBodyGrafserv } from "./graphql/received-body-grafserv.ts";
import { createMetrics, renderer } from "./http/metrics.ts";
import { startJobWorker, type JobWorker } from "./jobs/worker.ts";
import { serverStatus } from "./http/status-routes.ts";
import { createLogger } from "./logger.ts";
import { LiveHub } from "./live/hub.ts";
import { startLiveUpdates, type LiveUpdates } from "./live/start.ts";
import { registerLiveMetrics } from "./live/metrics.ts";

export const VERSION = "0.1.0";

function countCommittedMigrations(): number {
  const folder = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../migrations/committed");
  return fs.readdirSync(folder).filter((file) => file.endsWith(".sql")).length;
}

export interface Gateway {
  url: string;
  /** Where /health, /ready and /metrics answer apart from the API (PROBE_PORT). */
  probeUrl: string;
  pool: TenantPool;
  /** The connections subscriptions' deliveries read on (LIVE_POOL_SIZE). */
  deliveryPool: pg.Pool;
  logger: Logger;
  /** The in-process job worker (JOBS_IN_PROCESS, the default). */
  jobs: JobWorker | undefined;
  /** Subscriptions: their sockets, the hub of topics, the LISTEN connection. */
  live: LiveUpdates;
  close(): Promise<void>;
}

/** Builds the GraphQL schema once, then serves HTTP on `config.port` (0: any free port). */
export async function startGateway(
  appUrl: string,
  config: ServerConfig,
  { logger = createLogger(undefined, config.logLevel) }: { logger?: Logger } = {},
): Promise<Gateway> {
  // Prepared statements through a pooler that cannot keep them, or the job worker behind one: one clear line, no start.
  const connectionProblem = cachedPoolerProblem(appUrl, config);
  const problem = await connectionProblem();
  if (problem) throw new Error(problem);
  // The requests' connections, in groups with tenant affinity (DATABASE_POOL_GROUPS; see tenant-pool.ts).
  const pool = new TenantPool(groupUrls(appUrl, config.poolGroups, config.poolGroupDatabase), config, logger);
  const committedMigrations = countCommittedMigrations();
  introspectWithoutTenantSchemas(pool);
  // Sessions seen live are opened without the SQL check while the LISTEN connection proves it hears every revocation.
  const liveness = new SessionLiveness({
    windowMs: config.live.sessionLivenessWindowMs,
    maxSessions: config.live.sessionLivenessSessions,
    accessTtlMs: config.jwt.accessTtlSeconds * 1000,
  });
  await openTransactionsInOneRoundTrip(pool, liveness);
  fenceCommitsOf(pool, liveness);
  // /health, /ready and /metrics have a connection of their own, opened now and kept while idle:
  // they say whether the database answers, not how long the line for the request pool is, nor
  // how long a new connection takes on a busy machine.
  const probePool = createPool(appUrl, { ...config, poolSize: 1 }, logger, { keepIdle: true });
  await probePool.query("select 1").catch(() => undefined); // a database still away is reported by /health itself
  const auth = authServiceFor(pool, config);
  // Without APP_URL, Checkout sends the admin back to this server's address, known once it listens.
  let listening = config.mail.appUrl;
  const billing = billingFlows(pool, config.billing, () => listening, logger);
  const guards = graphqlGuards(config.graphql);
  const messages = new ConstraintMessages(pool);
  const metrics = createMetrics(
    pool,
    async () => (await serverStatus(probePool, config.preparedStatements)).tenants,
    () => guards.gate.cacheSize,
    guards.newDocuments.counts,
  );
  // Watch mode (development): a connection of its own LISTENs for DDL, and the schema is rebuilt
  // after it; LISTEN needs a session, so it goes where the job worker's does (JOBS_DATABASE_URL).
  const watchPool = config.graphql.watch
    ? createPool(config.jobs.databaseUrl ?? appUrl, { ...config, poolSize: 1 }, logger, { keepIdle: true })
    : undefined;
  const schemaWatch = watchPool && new SchemaWatchSubscriber(watchPool);
  const hub = new LiveHub(config.live);
  // The deliveries' reads (one per event and subscription) have connections of their own: a fan-out waits there, not in HTTP's pool.
  const deliveryPool = createPool(appUrl, { ...config, poolSize: config.live.poolSize }, logger);
  await openTransactionsInOneRoundTrip(deliveryPool, liveness);
  // The queued row changes are published on a connection of their own: never behind HTTP's or the deliveries' line.
  const publishPool = createPool(appUrl, { ...config, poolSize: 1 }, logger, { keepIdle: true });
  const pgl = postgraphile(
    makePreset(pool, auth, config.graphql, {
      explorer: config.explorer,
      logger,
      guards,
      messages,
      schemaWatch,
      live: hub,
      deliveries: makePgAdaptorWithPgClient(deliveryPool),
      billing,
      liveness,
    }),
  );
  const serv = pgl.createServ((preset) => new ReceivedBodyGrafserv(preset));
  const pipeline = createPipeline({
    pool: probePool,
    auth,
    corsOrigins: config.corsOrigins,
    trustProxy: config.trustProxy,
    version: VERSION,
    explorer: config.explorer,
    linkPages: config.mail.ownLinkPages,
    metrics,
    logger,
    committedMigrations,
    metricsAccess: config.metrics,
    clientLimits: config.clientConcurrency,
    serverLimits: config.serverConcurrency,
    probeLimits: { active: config.probe.perAddress, waiting: config.pipelinedRequests },
    graphqlMaxBodyBytes: config.graphql.maxBodyBytes,
    preparedStatements: config.preparedStatements,
    connectionProblem,
    graphql: serv.handler(),
    billing,
  });
  const api = createApiListener(config, pipeline.trustProxy, () => guards.newDocuments.counts.refused);
  const live = await startLiveUpdates(serv, hub, {
    config,
    listenUrl: config.live.listenUrl ?? config.jobs.databaseUrl ?? appUrl,
    authorize: (token) => auth.authorize(token),
    trustProxy: pipeline.trustProxy,
    upgraded: (socket) => api.sockets.upgraded(socket),
    pool: deliveryPool,
    publishPool,
    liveness,
    logger,
  });
  api.server.on("upgrade", live.sockets.upgrade);
  registerLiveMetrics(metrics.registry, live);
  api.serve(pipeline.listener, (req) => bearerTenant(auth, req));
  const release = async () => {
    await live.stop();
    await pgl.release();
    schemaWatch?.release();
    await Promise.all([pool.end(), probePool.end(), deliveryPool.end(), publishPool.end(), watchPool?.end()]);
  };
  const giveUp = async (error: unknown): Promise<never> => {
    await api.close();
    await release();
    throw error;
  };
  const port = await api.listen().catch(giveUp);
  const probes = await startProbeThread(appUrl, config, committedMigrations, {
    render: renderer(metrics),
    connectionProblem,
    logger,
  }).catch(giveUp);
  registerTransportMetrics(metrics.registry, api, config.bodyBudgetBytes, () => probes.counts());
  const url = ownAddress(port);
  if (config.mail.ownLinkPages) listening = url;
  // Without APP_URL, the links of messages lead here, to the port really bound (PORT=0 picks one).
  const mailing = config.mail.ownLinkPages ? { ...config, mail: { ...config.mail, appUrl: url } } : config;
  const jobs = config.jobs.inProcess ? await startJobWorker(appUrl, mailing, logger).catch(giveUp) : undefined;
  let closing: Promise<void> | undefined;
  const close = async () => {
    live.sockets.close(); // the HTTP server's close waits for every socket: WebSockets first
    await Promise.all([api.close(), probes.close()]);
    await jobs?.stop();
    await release();
  };
  return {
    url,
    probeUrl: ownAddress(probes.port),
    pool,
    deliveryPool,
    logger,
    jobs,
    live,
    /** Stops serving, then releases everything (once: a second call waits for the first). */
    close: () => (closing ??= close()),
  };
}

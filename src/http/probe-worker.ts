import express from "express";
import type { IncomingMessage, ServerResponse } from "node:http";
import { parentPort, workerData } from "node:worker_threads";
import { createPool } from "../db/pool.ts";
import { createLogger } from "../logger.ts";
import { errorResponder, notFound } from "./errors.ts";
import { createProbeListener, type TrustProxy } from "./guarded-listener.ts";
import { metricsRoute, type RenderMetrics } from "./metrics.ts";
import { questions, type ProbeCounts, type ProbeThreadData, type ThreadMessage } from "./probe-thread.ts";
import { sharedWhileRunning } from "./shared-while-running.ts";
import { probeRoutes } from "./status-routes.ts";

/**
 * The probe thread (probe-thread.ts): PROBE_PORT's listener, its probes on a connection of their
 * own, /metrics asked of the API's thread. Not logged per request (a prober asks every few seconds).
 */

const { appUrl, config, committedMigrations, heartbeat, shared } = workerData as ProbeThreadData;
const port = parentPort!;
const logger = createLogger(undefined, config.logLevel).child({ thread: "probes" });
const lastBeat = new Float64Array(heartbeat);
const answers: Record<string, number> = {};

/** Why the API's event loop is said stalled: it has not beaten for PROBE_STALLED_MS. */
function loopStalled(): string | undefined {
  const silentMs = Date.now() - lastBeat[0];
  return silentMs > config.probe.stalledMs ? `the API's event loop has not turned for ${(silentMs / 1000).toFixed(1)} s` : undefined;
}

const pool = createPool(appUrl, { ...config, poolSize: 1 }, logger, { keepIdle: true });
const ask = questions(port, { counts: () => Promise.resolve<ProbeCounts>({ sockets: { ...listener.sockets.counts }, answers }) });
const app = express();
app.disable("x-powered-by");
app.set("trust proxy", config.trustProxy);
app.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
  req.log = logger;
  res.on("finish", () => (answers[res.statusCode] = (answers[res.statusCode] ?? 0) + 1));
  next();
});
app.use(
  probeRoutes({
    pool,
    committedMigrations,
    preparedStatements: config.preparedStatements,
    // The API thread's verdict (one pooler check per process); none when it does not answer (a stalled loop is told apart).
    connectionProblem: () => ask<string | undefined>("problem").catch(() => undefined),
    limits: { active: config.probe.perAddress, waiting: config.probe.perAddress },
    metrics: metricsRoute(
      sharedWhileRunning(() => ask<Awaited<ReturnType<RenderMetrics>>>("metrics")),
      config.metrics,
    ),
    loopStalled,
  }),
);
app.use(notFound);
app.use(errorResponder(() => {}));
const listener = createProbeListener(config, app.get("trust proxy fn") as TrustProxy, app);

port.on("message", (message: ThreadMessage) => {
  if ("stop" in message)
    void listener.close().then(() =>
      pool
        .end()
        .catch(() => undefined)
        .then(() => process.exit(0)),
    );
});
await pool.query("select 1").catch(() => undefined); // a database still away is reported by /health itself
listener.listen(shared).then(
  (bound) => port.postMessage({ listening: bound } satisfies ThreadMessage),
  (error: Error) => port.postMessage({ failed: error.message } satisfies ThreadMessage),
);

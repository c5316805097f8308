import "./env.ts";
import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import { readDatabaseConfig } from "../config/database.ts";
import { isProduction } from "../config/env.ts";
import { readServerConfig, type ServerConfig } from "../config/server.ts";
import { prepareDatabase, type PreparedDatabase } from "../db/database.ts";
import { loadDevSecrets } from "../db/dev-secrets.ts";
import { prepareSchemaWatch } from "../db/watch-fixtures.ts";
import { poolerProblem } from "../db/pooler-check.ts";
import { startGateway, type Gateway } from "../server.ts";
import { processIo, type Io } from "./io.ts";
import { isScript } from "./run.ts";
import { answerScriptUsage } from "./usage.ts";

/** The API being served by `serve`. */
export interface Serving {
  /** Where the API listens (the port of PORT; with PORT=0 and workers, each worker's log says). */
  url: string;
  /** Stops serving (the gateway, or every worker), then what the database preparation started. */
  stop(): Promise<void>;
}

/**
 * `npm start`: prepares the database (embedded unless DATABASE_URL is set), then serves the API,
 * in this process or, with WEB_CONCURRENCY > 1, in that many worker processes sharing the port.
 * The primary alone owns the database preparation (and the embedded cluster).
 */
export async function serve(io: Io): Promise<Serving> {
  const databaseConfig = readDatabaseConfig(io.env);
  const generatedSecret = isProduction(io.env) ? undefined : (await loadDevSecrets(databaseConfig.dataDir)).jwtSecret;
  const serverConfig = readServerConfig(io.env, generatedSecret); // fails early on a bad setting
  const { workers } = serverConfig;
  const database = await prepareDatabase(databaseConfig, io.out);
  if (serverConfig.graphql.watch) await prepareSchemaWatch(database, io.err);
  if (workers === 1) {
    const gateway = await startGateway(database.appUrl, serverConfig).catch(stopAndThrow(database));
    announce(gateway, serverConfig);
    return { url: gateway.url, stop: () => gateway.close().then(() => database.stop()) };
  }
  // Checked once here, so that a bad connection is one line, not workers failing one after another.
  const problem = await poolerProblem(database.appUrl, serverConfig).catch(() => undefined);
  if (problem) await stopAndThrow(database)(new Error(problem));
  const env = {
    ...io.env,
    DATABASE_URL: database.appUrl,
    ...(serverConfig.jwt.signingKey === generatedSecret ? { JWT_SECRET: generatedSecret } : {}),
  };
  const stopWorkers = forkWorkers(workers, env, io);
  return { url: `http://localhost:${serverConfig.port}`, stop: () => stopWorkers().then(() => database.stop()) };
}

/**
 * Forks the workers, each started again when it dies after it served; returns how to stop them
 * (for good). A worker that dies before it served (it could not start: its line says why)
 * is not replaced, or the port would never answer while workers failed one after another.
 */
function forkWorkers(workers: number, env: NodeJS.ProcessEnv, io: Io): () => Promise<void> {
  cluster.setupPrimary({ exec: fileURLToPath(import.meta.url) });
  let stopping = false;
  const forked = new Set(Array.from({ length: workers }, () => cluster.fork(env)));
  const served = new WeakSet<Worker>();
  const serving = (worker: Worker, message: unknown) => void (message === SERVING && served.add(worker));
  const replace = (worker: Worker, code: number, signal: string | null) => {
    if (!forked.delete(worker) || stopping) return;
    if (!served.has(worker)) return io.err(`worker ${worker.process.pid} exited (${signal ?? code}) before serving; not starting another`);
    io.err(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    forked.add(cluster.fork(env));
  };
  cluster.on("message", serving);
  cluster.on("exit", replace);
  return async () => {
    stopping = true;
    cluster.off("exit", replace);
    cluster.off("message", serving);
    await Promise.all(
      [...forked].map(
        (worker) =>
          new Promise((resolve) => {
            worker.once("exit", resolve);
            worker.kill("SIGTERM");
          }),
      ),
    );
  };
}

/** The start line: where the API listens, its probes, and the explorer only where it is served. */
function announce(gateway: Gateway, { workers, explorer }: ServerConfig) {
  gateway.logger.info(
    {
      url: gateway.url,
      graphql: `${gateway.url}/graphql`,
      ...(explorer ? { explorer: `${gateway.url}/graphiql` } : {}),
      probes: gateway.probeUrl,
      workers,
    },
    `Stoflow API on ${gateway.url}`,
  );
}

function stopAndThrow(database: PreparedDatabase) {
  return async (error: unknown): Promise<never> => {
    await database.stop();
    throw error;
  };
}

/** Until SIGINT or SIGTERM, then a clean stop and exit code 0. */
function stopOnSignal(stop: () => Promise<void>) {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void stop().then(() => process.exit(0)));
  }
}

/** What a worker tells the primary once its gateway serves (its job worker started too). */
const SERVING = "stoflow:serving";

if (cluster.isWorker) {
  // A worker is given DATABASE_URL (and a generated JWT_SECRET) by the primary.
  const config = readServerConfig();
  const gateway = await startGateway(readDatabaseConfig().appUrl!, config).catch((error: Error) => {
    console.error(`Stoflow could not start: ${error.message}`);
    return process.exit(1);
  });
  process.send?.(SERVING);
  if (cluster.worker?.id === 1) announce(gateway, config);
  stopOnSignal(() => gateway.close());
} else if (isScript(import.meta.url)) {
  const answered = answerScriptUsage(
    {
      usage: "npm start",
      help: "Prepare the database (embedded unless DATABASE_URL is set; migrations applied), then serve the API (settings: README, .env.example).",
    },
    process.argv.slice(2),
    processIo,
  );
  if (answered !== undefined) process.exit(answered);
  const serving = await serve(processIo).catch((error: Error) => {
    // A startup problem (port or data folder taken, bad setting) is one clear line, not a stack.
    console.error(`Stoflow could not start: ${error.message}`);
    process.exit(1);
  });
  stopOnSignal(() => serving.stop());
}

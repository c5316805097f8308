import "./env.ts";
import cluster from "node:cluster";
import { isProduction, readDatabaseConfig, readServerConfig } from "../config.ts";
import { prepareDatabase, type PreparedDatabase } from "../db/database.ts";
import { loadDevSecrets } from "../db/dev-secrets.ts";
import { startGateway, type Gateway } from "../server.ts";

/**
 * `npm start`: prepares the database (embedded unless DATABASE_URL is set), then serves the API,
 * in this process or, with WEB_CONCURRENCY > 1, in that many worker processes sharing the port.
 * The primary alone owns the database preparation (and the embedded cluster).
 */
if (cluster.isPrimary) {
  await servePrimary().catch((error: Error) => {
    // A startup problem (port or data folder taken, bad setting) is one clear line, not a stack.
    console.error(`Stoflow could not start: ${error.message}`);
    process.exit(1);
  });
} else {
  // A worker is given DATABASE_URL (and a generated JWT_SECRET) by the primary.
  const config = readServerConfig();
  const gateway = await startGateway(readDatabaseConfig().appUrl!, config);
  if (cluster.worker?.id === 1) announce(gateway, config.workers);
  process.once("SIGTERM", async () => {
    await gateway.close();
    process.exit(0);
  });
}

async function servePrimary() {
  const databaseConfig = readDatabaseConfig();
  const generatedSecret = isProduction() ? undefined : (await loadDevSecrets(databaseConfig.dataDir)).jwtSecret;
  const serverConfig = readServerConfig(undefined, generatedSecret); // fails early on a bad setting
  const database = await prepareDatabase(databaseConfig, (line) => console.log(line));
  if (serverConfig.workers === 1) {
    const gateway = await startGateway(database.appUrl, serverConfig).catch(stopAndThrow(database));
    announce(gateway, 1);
    onShutdown(() => gateway.close(), database);
  } else {
    forkWorkers(database, serverConfig.workers, serverConfig.jwt.signingKey === generatedSecret ? generatedSecret : undefined);
    onShutdown(() => stopWorkers(), database);
  }
}

function forkWorkers(database: PreparedDatabase, workers: number, generatedSecret: string | undefined) {
  const env = { DATABASE_URL: database.appUrl, ...(generatedSecret ? { JWT_SECRET: generatedSecret } : {}) };
  for (let i = 0; i < workers; i++) cluster.fork(env);
  cluster.on("exit", (worker, code, signal) => {
    if (shuttingDown) return;
    console.error(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    cluster.fork(env);
  });
}

let shuttingDown = false;
function onShutdown(stopServing: () => Promise<unknown>, database: PreparedDatabase) {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, async () => {
      shuttingDown = true;
      await stopServing();
      await database.stop();
      process.exit(0);
    });
  }
}

function stopWorkers(): Promise<unknown> {
  return Promise.all(Object.values(cluster.workers ?? {}).map((worker) => new Promise((resolve) => {
    worker!.once("exit", resolve);
    worker!.kill("SIGTERM");
  })));
}

function announce(gateway: Gateway, workers: number) {
  gateway.logger.info({ url: gateway.url, graphql: `${gateway.url}/graphql`, explorer: `${gateway.url}/graphiql`, workers },
    `Stoflow API on ${gateway.url}`);
}

function stopAndThrow(database: PreparedDatabase) {
  return async (error: unknown): Promise<never> => {
    await database.stop();
    throw error;
  };
}

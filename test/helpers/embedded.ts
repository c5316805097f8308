import fs from "node:fs/promises";
import path from "node:path";
import { readDatabaseConfig, type DatabaseConfig } from "../../src/config/database.ts";
import { prepareDatabase, type PreparedDatabase } from "../../src/db/database.ts";
import { temporaryDataDir } from "../../src/db/embedded.ts";
import { freePort } from "./ports.ts";

const folders: string[] = [];

/**
 * Settings for an embedded cluster of a test's own: a new data folder and a free port, migrated
 * like the suite's template (committed migrations and migrations/current.sql).
 */
export async function ownEmbeddedConfig(): Promise<DatabaseConfig> {
  const dataDir = await temporaryDataDir("stoflow-own-");
  folders.push(dataDir);
  return { ...readDatabaseConfig({ STOFLOW_DATA_DIR: dataDir, STOFLOW_PG_PORT: String(await freePort()) }), includeCurrentMigration: true };
}

/** Removes the data folders ownEmbeddedConfig made (call after the clusters stopped). */
export async function removeOwnClusters(): Promise<void> {
  await Promise.all(folders.splice(0).map((folder) => fs.rm(folder, { recursive: true, force: true })));
}

/** An embedded cluster of a test's own, which the test may stop as an operator or a crash would. */
export interface OwnCluster {
  config: DatabaseConfig;
  /** The running cluster's connections (new after each start). */
  database: PreparedDatabase;
  /** `pg_ctl stop -m fast` (SIGINT) or `-m immediate` (SIGQUIT: backends quit at once, recovery at the next start). */
  stop(mode: "fast" | "immediate"): Promise<void>;
  start(): Promise<void>;
}

export async function startOwnCluster(): Promise<OwnCluster> {
  const config = await ownEmbeddedConfig();
  const cluster: OwnCluster = {
    config,
    database: await prepareDatabase(config, () => {}),
    async stop(mode) {
      const pidFile = await fs.readFile(path.join(config.dataDir, "pg", "postmaster.pid"), "utf8");
      process.kill(Number(pidFile.split("\n")[0]), mode === "fast" ? "SIGINT" : "SIGQUIT");
      await cluster.database.stop(); // waits for the postmaster to exit
    },
    async start() {
      cluster.database = await prepareDatabase(config, () => {});
    },
  };
  return cluster;
}

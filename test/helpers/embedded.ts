import fs from "node:fs/promises";
import { readDatabaseConfig, type DatabaseConfig } from "../../src/config.ts";
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

import path from "node:path";

/** Where the server finds PostgreSQL, read once from the environment. */
export interface DatabaseConfig {
  /** Connection of the running server, as stoflow_authenticator; unset means embedded PostgreSQL. */
  appUrl: string | undefined;
  /** Connection of the database owner, used to run migrations; unset means "already migrated". */
  ownerUrl: string | undefined;
  /** Superuser connection used by graphile-migrate to create or reset databases (development). */
  rootUrl: string | undefined;
  /** Throw-away database graphile-migrate replays migrations into before committing them. */
  shadowUrl: string | undefined;
  /** Folder of the embedded cluster and its generated secrets. */
  dataDir: string;
  /** Port of the embedded cluster. */
  embeddedPort: number;
  /** Database name on the embedded cluster. */
  databaseName: string;
  /** How many tenant schemas one catch-up transaction migrates. */
  tenantMigrationBatch: number;
}

export function readDatabaseConfig(env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  return {
    appUrl: nonEmpty(env.DATABASE_URL),
    ownerUrl: nonEmpty(env.DATABASE_OWNER_URL),
    rootUrl: nonEmpty(env.ROOT_DATABASE_URL),
    shadowUrl: nonEmpty(env.SHADOW_DATABASE_URL),
    dataDir: path.resolve(env.STOFLOW_DATA_DIR || ".data"),
    embeddedPort: integer(env, "STOFLOW_PG_PORT", 54329, 1, 65535),
    databaseName: env.STOFLOW_DB_NAME || "stoflow",
    tenantMigrationBatch: integer(env, "TENANT_MIGRATION_BATCH", 1, 1, 1000),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value && value.trim() !== "" ? value : undefined;
}

/** Reads an integer variable, refusing anything that is not a whole number within bounds. */
export function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}

import path from "node:path";
import { dataFolder } from "./env.ts";
import { integer, optional, text } from "./fields.ts";

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
  /** The database graphile-migrate hands its hooks (GM_DBURL), e.g. to `npm run db:dump`; unset outside them. */
  migrateHookUrl: string | undefined;
  /** Also apply migrations/current.sql (work in progress: tests, soak and bench set it, never the environment). */
  includeCurrentMigration?: boolean;
}

export function readDatabaseConfig(env: NodeJS.ProcessEnv = process.env): DatabaseConfig {
  return {
    appUrl: optional(env, "DATABASE_URL"),
    ownerUrl: optional(env, "DATABASE_OWNER_URL"),
    rootUrl: optional(env, "ROOT_DATABASE_URL"),
    shadowUrl: optional(env, "SHADOW_DATABASE_URL"),
    dataDir: path.resolve(dataFolder(env)),
    embeddedPort: integer(env, "STOFLOW_PG_PORT", 54329, 1, 65535),
    databaseName: text(env, "STOFLOW_DB_NAME", "stoflow"),
    tenantMigrationBatch: integer(env, "TENANT_MIGRATION_BATCH", 1, 1, 1000),
    migrateHookUrl: optional(env, "GM_DBURL"),
  };
}

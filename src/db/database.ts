import pg from "pg";
import type { DatabaseConfig } from "../config/database.ts";
import { installJobQueue } from "../jobs/queue-schema.ts";
import { loadDevSecrets } from "./dev-secrets.ts";
import { postgresUrl } from "./urls.ts";
import { applyCurrentMigration, applyMigrations, type LogLine } from "./migrations.ts";
import { applyPendingTenantSteps, failureLine, progressEverySecond, type TenantFailure } from "./tenant-migrations.ts";

/** The connections a running server uses, and how to let go of them. */
export interface PreparedDatabase {
  /** Server connection, as stoflow_authenticator. */
  appUrl: string;
  /** Owner connection (migrations, tenant catch-up, operator tasks), when known. */
  ownerUrl: string | undefined;
  /** Superuser connection to the maintenance database, when known (embedded: always). */
  rootUrl: string | undefined;
  /** Superuser connection to this database, when known (embedded: always; else from ROOT_DATABASE_URL). */
  superuserUrl: string | undefined;
  /** Stops what prepareDatabase started (the embedded cluster). */
  stop(): Promise<void>;
}

export const OWNER_ROLE = "stoflow_owner";
export const AUTHENTICATOR_ROLE = "stoflow_authenticator";

/**
 * Makes the database ready to serve. With DATABASE_URL it uses that server (and migrates it when
 * DATABASE_OWNER_URL is given); without, it boots the embedded cluster, creates the owner and the
 * database, migrates, and gives stoflow_authenticator its generated password.
 */
export async function prepareDatabase(config: DatabaseConfig, log: LogLine, { migrate = true } = {}): Promise<PreparedDatabase> {
  if (config.appUrl) {
    if (config.ownerUrl && migrate) {
      await migrateAll(config.ownerUrl, config.tenantMigrationBatch, log);
      await setLoginPasswordFromUrl(config.ownerUrl, config.appUrl);
    }
    const superuserUrl = config.rootUrl && inDatabaseOf(config.rootUrl, config.appUrl);
    return { appUrl: config.appUrl, ownerUrl: config.ownerUrl, rootUrl: config.rootUrl, superuserUrl, stop: async () => {} };
  }
  const secrets = await loadDevSecrets(config.dataDir);
  // Loaded only here: a production image leaves the embedded binaries out.
  const { runningCluster, startEmbeddedCluster } = await import("./embedded.ts");
  // Beside a running server (or `db watch`), use its cluster: its port is in postmaster.pid.
  const cluster =
    runningCluster(config.dataDir, secrets.superuserPassword) ??
    (await startEmbeddedCluster(config.dataDir, config.embeddedPort, secrets.superuserPassword));
  try {
    const rootUrl = cluster.superuserUrl("postgres");
    await ensureOwnedDatabase(rootUrl, config.databaseName, secrets.ownerPassword);
    const ownerUrl = postgresUrl(OWNER_ROLE, secrets.ownerPassword, cluster.port, config.databaseName);
    if (migrate) await migrateAll(ownerUrl, config.tenantMigrationBatch, log, { current: config.includeCurrentMigration ?? false });
    // Also when another command migrated (`npm run migrate` on a fresh folder, then any command).
    await setLoginPassword(rootUrl, AUTHENTICATOR_ROLE, secrets.authenticatorPassword);
    const appUrl = postgresUrl(AUTHENTICATOR_ROLE, secrets.authenticatorPassword, cluster.port, config.databaseName);
    return { appUrl, ownerUrl, rootUrl, superuserUrl: cluster.superuserUrl(config.databaseName), stop: () => cluster.stop() };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/**
 * The job queue's schema, committed migrations (and, with `current`, migrations/current.sql), then every tenant schema
 * brought up to the last tenant DDL step. A tenant whose step fails is logged (id, schema, step,
 * PostgreSQL's message) and left behind; the others are migrated. Returns those failures.
 */
export async function migrateAll(
  ownerUrl: string,
  batchSize: number,
  log: LogLine,
  { current = false, tenantId }: { current?: boolean; tenantId?: number } = {},
): Promise<TenantFailure[]> {
  await installJobQueue(ownerUrl);
  await (current ? applyCurrentMigration : applyMigrations)(ownerUrl, log);
  const pool = new pg.Pool({ connectionString: ownerUrl, max: 1 });
  try {
    const { migrated, failures } = await applyPendingTenantSteps(pool, batchSize, {
      onProgress: progressEverySecond(log),
      onFailure: (failure) => log(failureLine(failure)),
      tenantId,
    });
    if (migrated > 0) log(`tenant schemas migrated: ${migrated}`);
    if (failures.length > 0) {
      log(
        `${failures.length} tenant schemas lag behind the template; their requests get 503 TENANT_MAINTENANCE until the cause is fixed and` +
          " `npm run migrate` runs again (npm run stoflow -- tenants:check lists them)",
      );
    }
    return failures;
  } finally {
    await pool.end();
  }
}

/** `url` (its user and server) in the database of `other`. */
function inDatabaseOf(url: string, other: string): string {
  const swapped = new URL(url);
  swapped.pathname = new URL(other).pathname;
  return swapped.toString();
}

/** Creates the owner role (it creates the API roles in the first migration) and its database. */
export async function ensureOwnedDatabase(rootUrl: string, database: string, ownerPassword: string): Promise<void> {
  await withClient(rootUrl, async (client) => {
    const role = await client.query("select 1 from pg_roles where rolname = $1", [OWNER_ROLE]);
    const verb = role.rowCount ? "alter" : "create";
    await client.query(`${verb} role ${OWNER_ROLE} with login createrole password ${client.escapeLiteral(ownerPassword)}`);
    const exists = await client.query("select 1 from pg_database where datname = $1", [database]);
    if (!exists.rowCount) await client.query(`create database ${client.escapeIdentifier(database)} owner ${OWNER_ROLE}`);
  });
}

/** Gives `role` its login password, once the migrations have created it (before, nothing). */
export async function setLoginPassword(rootUrl: string, role: string, password: string): Promise<void> {
  await withClient(rootUrl, async (client) => {
    const { rowCount } = await client.query("select 1 from pg_roles where rolname = $1", [role]);
    if (rowCount) await client.query(`alter role ${client.escapeIdentifier(role)} with login password ${client.escapeLiteral(password)}`);
  });
}

/** Gives stoflow_authenticator the password that DATABASE_URL carries, so one variable says it. */
async function setLoginPasswordFromUrl(ownerUrl: string, appUrl: string): Promise<void> {
  const { username, password } = new URL(appUrl);
  if (decodeURIComponent(username) === AUTHENTICATOR_ROLE && password) {
    await setLoginPassword(ownerUrl, AUTHENTICATOR_ROLE, decodeURIComponent(password));
  }
}

export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import pg from "pg";
import { expect, inject } from "vitest";
import { AUTH_PG_ROLE, PG_ROLE_OF, type ApiPgRole, type AppRole } from "../../src/auth/roles.ts";
import { runTransaction } from "../../src/db/transaction.ts";
import { recordExecutedFunctions } from "./sql-coverage.ts";
import { until } from "./until.ts";

/** A database of its own for one test file, copied from the migrated template. */
export interface TestDatabase {
  name: string;
  ownerUrl: string;
  appUrl: string;
  /** The same as stoflow_authenticator, never through PgBouncer: the job worker's (JOBS_DATABASE_URL: it LISTENs). */
  jobsUrl: string;
  /** Connections as stoflow_owner (migrations, inspection). */
  owner: pg.Pool;
  /** Connections as stoflow_authenticator, the server's login role. */
  app: pg.Pool;
  /** Superuser connection string to this database (to act as roles nobody logs in as). */
  superuserUrl: string;
  close(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const rootUrl = inject("rootUrl");
  const name = `test_${randomBytes(6).toString("hex")}`;
  const root = new pg.Client({ connectionString: rootUrl });
  await root.connect();
  await root.query(`create database ${name} template ${inject("templateDatabase")} owner stoflow_owner`);
  // Counts the calls of every function, for the SQL coverage report (test/helpers/sql-coverage.ts).
  await root.query(`alter database ${name} set track_functions = 'all'`);
  await root.end();
  // With TEST_PGBOUNCER_URL (npm run test:pgbouncer) the server's and the owner's connections go
  // through PgBouncer in transaction mode; administration (create, drop) stays direct.
  const via = process.env.TEST_PGBOUNCER_URL;
  const ownerUrl = databaseUrl(rootUrl, name, "stoflow_owner", inject("ownerPassword"), via);
  const appUrl = databaseUrl(rootUrl, name, "stoflow_authenticator", inject("authenticatorPassword"), via);
  const jobsUrl = databaseUrl(rootUrl, name, "stoflow_authenticator", inject("authenticatorPassword"));
  if (via) await addGroupEntries(rootUrl, name, appUrl);
  const owner = new pg.Pool({ connectionString: ownerUrl, max: 4 });
  const app = new pg.Pool({ connectionString: appUrl, max: 25 });
  // Closing drops the database with force, which ends connections still winding down.
  for (const pool of [owner, app]) pool.on("error", () => {});
  const superuserUrl = databaseUrl(rootUrl, name, new URL(rootUrl).username, decodeURIComponent(new URL(rootUrl).password));
  return {
    name,
    superuserUrl,
    ownerUrl,
    appUrl,
    jobsUrl,
    owner,
    app,
    async close() {
      await Promise.all([owner.end(), app.end()]);
      const inside = new pg.Client({ connectionString: superuserUrl });
      await inside.connect();
      await recordExecutedFunctions(inside, name, inject("sqlCoverageDir")).finally(() => inside.end());
      const client = new pg.Client({ connectionString: rootUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}

/** PgBouncer entries a test database's groups may connect to (DATABASE_POOL_SIZE up to 64 in tests). */
const GROUP_ENTRIES = 32;

/**
 * Under npm run test:pgbouncer, the server's pool groups connect to `<database>_g<n>`
 * (groupEntries, DATABASE_POOL_GROUP_DATABASE): each is an entry of PgBouncer's, written to the file its
 * configuration includes, pointing at this database; PgBouncer reloads it (SIGHUP), and the
 * first entry answering tells it did.
 */
async function addGroupEntries(rootUrl: string, name: string, appUrl: string): Promise<void> {
  const { TEST_PGBOUNCER_GROUPS_FILE: file, TEST_PGBOUNCER_PID: pid } = process.env;
  if (!file || !pid) return;
  const { hostname, port } = new URL(rootUrl);
  const entries = Array.from({ length: GROUP_ENTRIES }, (_, g) => `${name}_g${g} = host=${hostname} port=${port} dbname=${name}\n`);
  await fs.appendFile(file, entries.join(""));
  process.kill(Number(pid), "SIGHUP");
  const first = new URL(appUrl);
  first.pathname = `/${name}_g0`;
  await until(
    `PgBouncer entry ${name}_g0`,
    async () => {
      const client = new pg.Client({ connectionString: first.toString() });
      client.on("error", () => {});
      return client.connect().then(
        () => client.end().then(() => true),
        () => false,
      );
    },
    10_000,
  );
}

/**
 * The server's settings for `appUrl`: through PgBouncer, each pool group connects to the entry
 * addGroupEntries made for it (DATABASE_POOL_GROUP_DATABASE); directly, nothing.
 */
export function groupEntries(appUrl: string): NodeJS.ProcessEnv {
  const via = process.env.TEST_PGBOUNCER_URL;
  return via && process.env.TEST_PGBOUNCER_GROUPS_FILE && new URL(appUrl).host === new URL(via).host
    ? { DATABASE_POOL_GROUP_DATABASE: "{database}_g{group}" }
    : {};
}

function databaseUrl(rootUrl: string, database: string, user: string, password: string, via?: string): string {
  const url = new URL(rootUrl);
  if (via) url.host = new URL(via).host;
  url.username = user;
  url.password = password;
  url.pathname = `/${database}`;
  return url.toString();
}

/** What the gateway sets for a request: its role and claims, and its tenant's search_path. */
export interface Session {
  role: ApiPgRole | typeof AUTH_PG_ROLE;
  tenantId?: number;
  userId?: number;
}

/** Runs `work` in one transaction under `session`, as PostGraphile runs a request (its tenant's schema on the search_path); commits. */
export function asSession<T>(pool: pg.Pool, session: Session, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return runTransaction(
    pool,
    {
      role: session.role,
      "jwt.claims.tenant_id": session.tenantId?.toString() ?? "",
      "jwt.claims.user_id": session.userId?.toString() ?? "",
      search_path: "public",
    },
    work,
  );
}

/** A bcrypt-shaped hash: the SQL side stores hashes and never checks passwords. */
export const FAKE_HASH = "$2b$04$abcdefghijklmnopqrstuuJ7Wv0Q9S1mQ3bJm3vKx7s5d6Jc9eBTq";

export interface Claims {
  sub: number;
  tenant_id: number;
  role: AppRole;
}

/** Registers a tenant as the server's auth code does (role stoflow_auth); without a tier, the default one. */
export async function registerTenant(pool: pg.Pool, name: string, email: string, tier: string | null = null): Promise<Claims> {
  return asSession(pool, { role: AUTH_PG_ROLE }, async (client) => {
    const { rows } = await client.query("select (c).* from app_private.register_tenant($1, $2, $3, $4) as c", [
      name,
      email,
      FAKE_HASH,
      tier,
    ]);
    return rows[0] as Claims;
  });
}

/** The session a tenant's user gets (as their own role, or as `role`). */
export function userSession(claims: Claims, role: ApiPgRole = PG_ROLE_OF[claims.role]): Session {
  return { role, tenantId: claims.tenant_id, userId: claims.sub };
}

/** Asserts that `promise` fails with PostgreSQL error `code` (and a message matching `message`). */
export async function expectPgError(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected PostgreSQL error ${code}`).toBeInstanceOf(Error);
  expect((error as { code?: string }).code).toBe(code);
  if (message) expect((error as Error).message).toMatch(message);
}

/**
 * Holds ACCESS EXCLUSIVE locks on `tables` in a transaction of its own, until released: a request
 * that reaches them waits inside PostgreSQL, so a test knows it is in flight. `url` is a superuser's
 * (it sees the query text of every connection).
 */
export async function lockTables(url: string, tables: string[]) {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {}); // it dies with PostgreSQL in some tests
  await client.connect();
  await client.query(`begin; lock table ${tables.join(", ")} in access exclusive mode`);
  return {
    /** Server connections (stoflow_authenticator) waiting on a lock, with their pid and query. */
    async waiting(): Promise<{ pid: number; query: string }[]> {
      await client.query("select pg_stat_clear_snapshot()"); // else the transaction keeps its first view of pg_stat_activity
      const { rows } = await client.query(
        "select pid, query from pg_stat_activity where usename = 'stoflow_authenticator' and wait_event_type = 'Lock' and datname = current_database()",
      );
      return rows;
    },
    client,
    release: () => client.end().catch(() => {}),
  };
}

/**
 * `url` with PgBouncer's address (npm run test:pgbouncer) replaced by PostgreSQL's own: a session,
 * for the LISTEN connection of live updates (DATABASE_LISTEN_URL), which a transaction-mode pooler
 * would lose. Unchanged without PgBouncer.
 */
export function directUrl(url: string): string {
  const via = process.env.TEST_PGBOUNCER_URL;
  const parsed = new URL(url);
  if (!via || parsed.host !== new URL(via).host) return url;
  parsed.host = new URL(inject("rootUrl")).host;
  return parsed.toString();
}

import { randomUUID } from "node:crypto";
import pg from "pg";
import type { ServerConfig } from "../config/server.ts";

/** How long the check waits for its second statement while another session holds a backend. */
const WAIT_MS = 3_000;
/** PostgreSQL's code for a prepared statement that the backend does not have. */
const STATEMENT_MISSING = "26000";

/** What the check found behind a connection string. */
export interface PoolerMode {
  /** A pooler that hands a session's statements to other backends between transactions (PgBouncer's pool_mode = transaction). */
  transactionPooled: boolean;
  /** Whether a prepared statement survived that move (PgBouncer 1.21+ with max_prepared_statements). */
  keepsPreparedStatements: boolean;
}

/**
 * Whether `url` goes through a transaction-mode pooler, and whether it keeps prepared statements.
 * Session A prepares and runs a named statement; session B opens a transaction (holding, in a
 * transaction pooler, the backend A just used); A runs its statement again. Directly or in
 * session mode A keeps its backend; in transaction mode it gets another one (or waits for B), on
 * which the statement is missing unless the pooler prepares it again.
 */
export async function poolerMode(url: string): Promise<PoolerMode> {
  // Bounded like every other wait on PostgreSQL: a database gone silent fails the check, which then says nothing.
  const client = () => new pg.Client({ connectionString: url, connectionTimeoutMillis: 2 * WAIT_MS, query_timeout: 2 * WAIT_MS });
  const [a, b] = [client(), client()];
  try {
    await Promise.all([a.connect(), b.connect()]);
    // A name of its own each time: a backend may keep an earlier check's statement.
    const statement = { name: `stoflow_pooler_check_${randomUUID().replaceAll("-", "")}`, text: "select pg_backend_pid() as pid" };
    const first = (await a.query<{ pid: number }>(statement)).rows[0].pid;
    await b.query("begin");
    await b.query("select pg_backend_pid()");
    let waited = false;
    const again = a.query<{ pid: number }>(statement).then(
      (r) => r.rows[0].pid,
      (error: Error & { code?: string }) => error,
    );
    const timer = setTimeout(() => void ((waited = true), b.query("rollback").catch(() => undefined)), WAIT_MS);
    const second = await again;
    clearTimeout(timer);
    if (typeof second === "number") return { transactionPooled: waited || second !== first, keepsPreparedStatements: true };
    if (second.code === STATEMENT_MISSING) return { transactionPooled: true, keepsPreparedStatements: false };
    throw second;
  } finally {
    await Promise.all([a.end().catch(() => undefined), b.end().catch(() => undefined)]);
  }
}

/** Whether the server prepares statements: ours (DATABASE_PREPARED_STATEMENTS) or PostGraphile's (@dataplan/pg's cache). */
function preparesStatements(config: ServerConfig): boolean {
  return config.preparedStatements || config.pgStatementCacheSize > 0;
}

/**
 * What is wrong with the database connections for this configuration, in one line, or undefined:
 * prepared statements through a transaction-mode pooler that cannot keep them (answers would fail
 * or be wrong: "prepared statement … already exists"), or the job worker or live updates' LISTEN
 * connection behind such a pooler (they need a session).
 */
export async function poolerProblem(appUrl: string, config: ServerConfig): Promise<string | undefined> {
  const app = await poolerMode(appUrl);
  if (app.transactionPooled && !app.keepsPreparedStatements && preparesStatements(config)) {
    return (
      "DATABASE_URL goes through a transaction-mode pooler that does not keep prepared statements (PgBouncer before 1.21, or max_prepared_statements = 0): " +
      "set DATABASE_PREPARED_STATEMENTS=false and DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE=0, or max_prepared_statements in pgbouncer.ini"
    );
  }
  const jobs = config.jobs.databaseUrl ? await poolerMode(config.jobs.databaseUrl) : app;
  if (config.jobs.inProcess && jobs.transactionPooled) {
    return (
      `${config.jobs.databaseUrl ? "JOBS_DATABASE_URL" : "DATABASE_URL"} goes through a transaction-mode pooler, and the job worker needs a session (it LISTENs): ` +
      "set JOBS_DATABASE_URL to a direct connection to PostgreSQL, or JOBS_IN_PROCESS=false and run `npm run worker` with one"
    );
  }
  // Live updates LISTEN on DATABASE_LISTEN_URL, else JOBS_DATABASE_URL, else DATABASE_URL (src/live/start.ts).
  const [listenSetting, listen] = config.live.listenUrl
    ? ["DATABASE_LISTEN_URL", await poolerMode(config.live.listenUrl)]
    : [config.jobs.databaseUrl ? "JOBS_DATABASE_URL" : "DATABASE_URL", jobs];
  if (listen.transactionPooled) {
    return `${listenSetting} goes through a transaction-mode pooler, which loses LISTEN's notifications (live updates): set DATABASE_LISTEN_URL to a direct connection to PostgreSQL`;
  }
  return undefined;
}

/** How long a check's verdict is kept by /ready (each check opens two connections). */
const VERDICT_MS = 60_000;

/** `poolerProblem` for /ready: one check at a time, its verdict kept VERDICT_MS; a database that does not answer is no verdict. */
export function cachedPoolerProblem(appUrl: string, config: ServerConfig): () => Promise<string | undefined> {
  let verdict: { at: number; problem: Promise<string | undefined> } | undefined;
  return () => {
    if (!verdict || Date.now() - verdict.at > VERDICT_MS) {
      verdict = { at: Date.now(), problem: poolerProblem(appUrl, config).catch(() => undefined) };
    }
    return verdict.problem;
  };
}

import type pg from "pg";

/**
 * A query the server runs on every request, as a named prepared statement unless
 * DATABASE_PREPARED_STATEMENTS=false (for a pooler that cannot keep them, like PgBouncer before
 * 1.21 in transaction mode; set DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE=0 for PostGraphile too).
 */
const PREPARED = process.env.DATABASE_PREPARED_STATEMENTS !== "false";

export function statement(name: string, text: string): pg.QueryConfig {
  return PREPARED ? { name, text } : { text };
}

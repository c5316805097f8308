import type pg from "pg";

/**
 * A query the server runs on every request, as a named prepared statement unless `prepared` is
 * off (DATABASE_PREPARED_STATEMENTS=false, for a pooler that cannot keep them, like PgBouncer
 * before 1.21 in transaction mode; set DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE=0 for PostGraphile too).
 */
export function statement(name: string, text: string, prepared: boolean): pg.QueryConfig {
  return prepared ? { name, text } : { text };
}

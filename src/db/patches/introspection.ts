import type pg from "pg";
import { makeIntrospectionQuery } from "postgraphile/graphile-build-pg/pg-introspection";

/*
 * PATCH of graphile-build-pg's introspection (kept: measured, gateway RSS with 200 tenants 1.71×
 * → 1.01× of none, introspection at 40,700 tenants 4.9 s → 0.23 s, docs/benchmarks.md). Startup
 * assertion: TENANT_FREE_INTROSPECTION_QUERY throws as the module loads when PostGraphile's query
 * no longer has the namespace filter and the 27 memberships it rewrites. Retired by an upstream
 * option of pg-introspection / PgIntrospectionPlugin to introspect only the schemas the API is
 * built from (and membership tests written as `= any (array(…))`).
 */

/**
 * PostGraphile introspects every schema of the database, tenant schemas included, although the
 * API is built from `public` and `tenant_template` only: with 10,000 tenants that is 40,000
 * tables read and parsed at every start. We leave the `client_<id>` schemas out of that one
 * query, so startup time and memory stay flat as tenants are added.
 */
const INTROSPECTION_QUERY = makeIntrospectionQuery();
const NAMESPACE_FILTER = "where nspname <> 'information_schema'";

/** `x in (select y._id from y …)`: a semi-join over a whole catalog table, whatever the size of `y`. */
const SUBQUERY_MEMBERSHIP = /\b(\w+) in \(select (\w+\._id from \w+[^()]*)\)/g;
/** How many of those PostGraphile 5.1's query holds (checked, so that a change of the query is seen). */
const SUBQUERY_MEMBERSHIPS = 27;

export const TENANT_FREE_INTROSPECTION_QUERY = (() => {
  const memberships = INTROSPECTION_QUERY.match(SUBQUERY_MEMBERSHIP)?.length;
  if (!INTROSPECTION_QUERY.includes(NAMESPACE_FILTER) || memberships !== SUBQUERY_MEMBERSHIPS) {
    throw new Error("PostGraphile's introspection query changed: update src/db/patches/introspection.ts");
  }
  // A replacer function: in a replacement string, the "$'" of the pattern would be special.
  return (
    INTROSPECTION_QUERY.replace(NAMESPACE_FILTER, () => `${NAMESPACE_FILTER} and app_private.tenant_id_of_schema(nspname) is null`)
      // The planner cannot tell how few rows the tenant-free namespaces leave (7 of 50,000), so it
      // scanned pg_attribute, pg_depend and pg_description whole (millions of rows with many
      // tenants). As `= any (array(…))` the few ids become index conditions: with 35,000 tenants
      // the query took 0.6 s instead of 7 s, with the same result.
      .replace(SUBQUERY_MEMBERSHIP, (_match, column: string, subquery: string) => `${column} = any (array(select ${subquery}))`)
  );
})();

/**
 * Makes every connection of `pool` run the tenant-free introspection in place of the full one.
 * A patch, because PostGraphile offers no option for it: graphile-build-pg's PgIntrospectionPlugin
 * sends makeIntrospectionQuery() with no arguments through the service's client, and its gather
 * hooks only see the rows after the query read every schema.
 */
export function introspectWithoutTenantSchemas(pool: pg.Pool): void {
  pool.on("connect", (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    client.query = ((config: unknown, ...rest: unknown[]) => {
      const text = (config as { text?: unknown } | null)?.text;
      const rewritten = text === INTROSPECTION_QUERY ? { ...(config as object), text: TENANT_FREE_INTROSPECTION_QUERY } : config;
      return query(rewritten, ...rest);
    }) as typeof client.query;
  });
}

import fs from "node:fs";
import path from "node:path";
import pg from "pg";

/**
 * SQL coverage: every test database runs with track_functions = 'all'; before it is dropped, the
 * functions of `app_private` and `public` it executed are written to `dir`; at the end of the run
 * (test/global-setup.ts) every function no test database executed is listed.
 */
const SCHEMAS = "('app_private'::regnamespace, 'public'::regnamespace)";

/** Writes the functions this database executed (its statistics survive its connections). */
export async function recordExecutedFunctions(root: pg.Client, database: string, dir: string): Promise<void> {
  const { rows } = await root.query<{ name: string }>(
    `select schemaname || '.' || funcname as name from pg_stat_user_functions where schemaname in ('app_private', 'public') and calls > 0`,
  );
  fs.writeFileSync(path.join(dir, `${database}.json`), JSON.stringify(rows.map((row) => row.name)));
}

/** Every function of `app_private` and `public` in the template, with how many test databases executed it. */
export async function functionReport(
  template: pg.Client,
  dir: string,
): Promise<Array<{ name: string; inlined: boolean; databases: number }>> {
  const executed = fs.readdirSync(dir).flatMap((file) => JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as string[]);
  // A plain SQL function (no SECURITY DEFINER, no SET; one value: a volatile one only when its body
  // is one SELECT; a set of rows: neither volatile nor strict) is inlined into the query that calls
  // it: PostgreSQL never counts its calls, so it is reported apart, not as missed.
  const { rows } = await template.query<{ name: string; inlined: boolean }>(`
    select p.pronamespace::regnamespace || '.' || p.proname as name,
           bool_and(l.lanname = 'sql' and not p.prosecdef and p.proconfig is null
                    and case when p.proretset then p.provolatile <> 'v' and not p.proisstrict
                             else p.provolatile <> 'v' or p.prosrc ~* '^\\s*select\\s' end) as inlined
      from pg_proc p join pg_language l on l.oid = p.prolang
     where p.pronamespace in ${SCHEMAS} and p.prokind = 'f'
       and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
     group by 1 order by 1`);
  return rows.map(({ name, inlined }) => ({ name, inlined, databases: executed.filter((done) => done === name).length }));
}

/** Prints the SQL-function report; returns an error naming every function never executed (undefined when none). */
export async function checkSqlCoverage(templateUrl: string, dir: string): Promise<Error | undefined> {
  const template = new pg.Client({ connectionString: templateUrl });
  await template.connect();
  const report = await functionReport(template, dir).finally(() => template.end());
  const uncounted = report.filter((fn) => fn.databases === 0 && fn.inlined).map((fn) => fn.name);
  const never = report.filter((fn) => fn.databases === 0 && !fn.inlined).map((fn) => fn.name);
  console.log(
    `SQL functions (app_private, public): ${report.length - never.length - uncounted.length} of ${report.length} executed by the tests;` +
      ` ${uncounted.length} inlined by the planner, so never counted (${uncounted.join(", ")}); ${never.length} never executed`,
  );
  return never.length ? new Error(`SQL functions no test executed:\n  ${never.join("\n  ")}`) : undefined;
}

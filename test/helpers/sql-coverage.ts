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
    `select schemaname || '.' || funcname as name from pg_stat_user_functions where schemaname in ('app_private', 'public') and calls > 0`);
  fs.writeFileSync(path.join(dir, `${database}.json`), JSON.stringify(rows.map((row) => row.name)));
}

/** Every function of `app_private` and `public` in the template, with how many test databases executed it. */
export async function functionReport(template: pg.Client, dir: string): Promise<Array<{ name: string; databases: number }>> {
  const executed = fs.readdirSync(dir).flatMap((file) => JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as string[]);
  const { rows } = await template.query<{ name: string }>(`
    select distinct p.pronamespace::regnamespace || '.' || p.proname as name
      from pg_proc p
     where p.pronamespace in ${SCHEMAS} and p.prokind = 'f'
       and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
     order by 1`);
  return rows.map(({ name }) => ({ name, databases: executed.filter((done) => done === name).length }));
}

/** Prints the SQL-function report; returns an error naming every function never executed (undefined when none). */
export async function checkSqlCoverage(templateUrl: string, dir: string): Promise<Error | undefined> {
  const template = new pg.Client({ connectionString: templateUrl });
  await template.connect();
  const report = await functionReport(template, dir).finally(() => template.end());
  const never = report.filter((fn) => fn.databases === 0).map((fn) => fn.name);
  console.log(`SQL functions: ${report.length - never.length} of ${report.length} executed by the tests (app_private, public)`);
  return never.length ? new Error(`SQL functions no test executed:\n  ${never.join("\n  ")}`) : undefined;
}

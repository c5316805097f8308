import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { afterAll, expect, it } from "vitest";
import { loadDevSecrets } from "../../src/db/dev-secrets.ts";
import { temporaryDataDir } from "../../src/db/embedded.ts";
import { postgresUrl } from "../../src/db/urls.ts";
import { signUp, spawnServer } from "../helpers/gateway.ts";
import { freePort } from "../helpers/ports.ts";
import { until } from "../helpers/until.ts";

/**
 * README's "Evolving the schema", word for word, on a copy of the project's migrations: `db watch`
 * runs throughout; `npm start` beside it; a tenant step is added, caught up, edited; the schema
 * shows it before the commit; `db commit` exits 0; `npm run migrate`; no drift.
 */
const PROJECT = process.cwd();
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

const stepSql = (comment: string) => `select app_private.add_tenant_ddl_step('products.gtin', $step$
  alter table {schema}.products add column if not exists gtin varchar(14) check (gtin ~ '^[0-9]{8,14}$');
  comment on column {schema}.products.gtin is '${comment}';
  grant insert (gtin), update (gtin) on {schema}.products to stoflow_user;
$step$);
`;

it("walks the DBA loop with watch running: step added and edited, schema checked, commit, migrate, no drift", { timeout: 480_000 }, async () => {
  const work = await temporaryDataDir("stoflow-dba-");
  cleanups.push(() => fs.rm(work, { recursive: true, force: true }));
  await fs.cp(path.join(PROJECT, ".gmrc"), path.join(work, ".gmrc"));
  for (const folder of ["migrations", "data"]) await fs.cp(path.join(PROJECT, folder), path.join(work, folder), { recursive: true });
  await fs.symlink(path.join(PROJECT, "src"), path.join(work, "src")); // .gmrc's hooks run src/cli/dump-schema.ts
  const current = path.join(work, "migrations", "current.sql");
  const env = { ...process.env, STOFLOW_DATA_DIR: path.join(work, ".data"), STOFLOW_PG_PORT: String(await freePort()), ENV_FILE: "/nonexistent" };
  const run = (script: string, ...args: string[]) => {
    const result = spawnSync(process.execPath, [path.join(PROJECT, "src/cli", script), ...args], { cwd: work, env, encoding: "utf8" });
    expect(result.stderr).not.toMatch(/\n\s+at /);
    return { code: result.status, out: result.stdout, err: result.stderr };
  };

  // 1. watch: it owns the embedded cluster for the whole loop.
  const watch = spawn(process.execPath, [path.join(PROJECT, "src/cli/db.ts"), "watch"], { cwd: work, env, stdio: ["ignore", "pipe", "pipe"] });
  cleanups.push(() => stopProcess(watch, "SIGINT"));
  let watchLog = "";
  for (const stream of [watch.stdout!, watch.stderr!]) stream.on("data", (chunk) => (watchLog += chunk));
  await until("watch applied current.sql", async () => /Finished/.test(watchLog), 120_000);
  const secrets = await loadDevSecrets(env.STOFLOW_DATA_DIR);
  const port = Number((await fs.readFile(path.join(env.STOFLOW_DATA_DIR, "pg", "postmaster.pid"), "utf8")).split("\n")[3]);
  const owner = new pg.Pool({ connectionString: postgresUrl("stoflow_owner", secrets.ownerPassword, port, "stoflow"), max: 1 });
  cleanups.push(() => owner.end());
  const drift = async () => (await owner.query("select * from app_private.tenant_structure_drift()")).rows;

  // npm start beside watch, and a few tenants.
  const server = await spawnServer("", { STOFLOW_DATA_DIR: env.STOFLOW_DATA_DIR, STOFLOW_PG_PORT: "1" });
  cleanups.push(() => stopProcess(server.child, "SIGTERM"));
  for (let i = 0; i < 3; i++) await signUp(server.url, `Loop Shop ${i}`);

  // 2. A tenant step in current.sql: the template gets it at once, the tenants with npm run migrate.
  await fs.appendFile(current, stepSql("Barcode."));
  await until("watch applied the step to the template", () => commentIs(owner, "tenant_template", "Barcode."), 60_000);
  expect(run("migrate.ts")).toMatchObject({ code: 0 });
  expect(await drift()).toEqual([]);

  // The step edited while uncommitted: watch runs it again on the template and on every tenant.
  await fs.writeFile(current, (await fs.readFile(current, "utf8")).replace("'Barcode.'", "'Global trade item number.'"));
  await until("watch applied the edited step to every tenant", () => commentIs(owner, "client_3", "Global trade item number."), 60_000);
  expect(await drift()).toEqual([]);
  expect(watchLog).not.toMatch(/already exists with other SQL|cannot change/);

  // 3. The API shows it before the commit (what the schema test checks).
  expect(run("export-schema.ts")).toMatchObject({ code: 0 });
  expect(await fs.readFile(path.join(work, "schema.graphql"), "utf8")).toMatch(/"""Global trade item number\."""\s+gtin: String/);

  // 4. Commit (exit 0, the step now immutable), migrate, no drift.
  const committed = run("db.ts", "commit", "products gtin");
  expect(committed, committed.err + committed.out).toMatchObject({ code: 0 });
  const files = await fs.readdir(path.join(work, "migrations", "committed"));
  expect(await fs.readFile(path.join(work, "migrations", "committed", files.sort().at(-1)!), "utf8")).toContain("'Global trade item number.'");
  expect(await fs.readFile(path.join(work, "data", "schema.sql"), "utf8")).toContain("gtin");
  expect(run("migrate.ts")).toMatchObject({ code: 0 });
  expect(run("stoflow.ts", "tenants:check")).toMatchObject({ code: 0 });
  await expect(owner.query(stepSql("Changed after the commit."))).rejects.toThrow(/"products.gtin" is committed and cannot change/);
});

/** Whether the gtin column of `schema`'s products carries `comment`. */
async function commentIs(owner: pg.Pool, schema: string, comment: string): Promise<boolean> {
  const { rows } = await owner.query(`
    select col_description(c.oid, a.attnum) as comment from pg_attribute a join pg_class c on c.oid = a.attrelid
      join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = 'products' and a.attname = 'gtin'`, [schema]);
  return rows[0]?.comment === comment;
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<unknown> {
  if (child.exitCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill(signal);
  return exited;
}

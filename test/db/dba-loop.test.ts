import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { afterAll, expect, it } from "vitest";
import { loadDevSecrets } from "../../src/db/dev-secrets.ts";
import { temporaryDataDir } from "../../src/db/embedded.ts";
import { postgresUrl } from "../../src/db/urls.ts";
import { graphql, http, signUp, spawnServer } from "../helpers/gateway.ts";
import { freePort } from "../helpers/ports.ts";
import { until } from "../helpers/until.ts";

/**
 * README's "Evolving the schema", word for word, on a copy of the project (never its own
 * current.sql): `npm run db -- watch` and `npm start` run throughout; the development database is
 * rebuilt after an earlier current.sql left something behind; the shipped example
 * (sql/add-tenant-step.example.sql, unchanged) is pasted into current.sql; the new column shows in
 * the API and works for every tenant at once, its constraint answers with its message; the
 * suite's SQL and schema tests pass on the copy; commit, migrate, no drift.
 */
const PROJECT = process.cwd();
const EXAMPLE = path.join(PROJECT, "sql", "add-tenant-step.example.sql");
/** The suite's tests that a DBA's step broke before (fixtures that collided, a constraint without a message, stale dumps). */
const SUITE_FILES = [
  "test/sql/tenant-ddl.test.ts",
  "test/api/constraint-errors.test.ts",
  "test/db/schema-dump.test.ts",
  "test/api/schema.test.ts",
];
const LEFTOVER = `create or replace function app_private.zz_fixture_leftover() returns int language sql as 'select 1';
comment on function app_private.zz_fixture_leftover() is 'Made by an earlier current.sql.';
`;

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

it(
  "walks the DBA loop beside npm start with the shipped example: live schema, no 503, messages, suite green, commit, migrate, no drift",
  { timeout: 900_000 },
  async () => {
    const work = await projectCopy();
    const current = path.join(work, "migrations", "current.sql");
    const schemaSql = path.join(work, "data", "schema.sql");
    const env = {
      ...process.env,
      STOFLOW_DATA_DIR: path.join(work, ".data"),
      STOFLOW_PG_PORT: String(await freePort()),
      ENV_FILE: "/nonexistent",
      DATABASE_URL: "",
    };
    const run = (script: string, ...args: string[]) => {
      const result = spawnSync(process.execPath, [path.join(PROJECT, "src/cli", script), ...args], { cwd: work, env, encoding: "utf8" });
      expect(result.stderr + result.stdout).not.toMatch(/\n\s+at /);
      return { code: result.status, out: result.stdout, err: result.stderr };
    };

    // watch owns the embedded cluster for the whole loop; npm start runs beside it.
    const watch = spawn(process.execPath, [path.join(PROJECT, "src/cli/db.ts"), "watch"], {
      cwd: work,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    cleanups.push(() => stopProcess(watch, "SIGINT"));
    let watchLog = "";
    for (const stream of [watch.stdout, watch.stderr]) stream.on("data", (chunk) => (watchLog += chunk));
    const runs = () => (watchLog.match(/Finished|🛑/g) ?? []).length;
    await until("watch applied current.sql", () => runs() > 0, 120_000);
    const secrets = await loadDevSecrets(env.STOFLOW_DATA_DIR);
    const port = Number((await fs.readFile(path.join(env.STOFLOW_DATA_DIR, "pg", "postmaster.pid"), "utf8")).split("\n")[3]);
    const owner = new pg.Pool({ connectionString: postgresUrl("stoflow_owner", secrets.ownerPassword, port, "stoflow"), max: 1 });
    owner.on("error", () => {}); // the rebuild below ends its connection
    cleanups.push(() => owner.end());
    const server = await spawnServer("", { STOFLOW_DATA_DIR: env.STOFLOW_DATA_DIR, STOFLOW_PG_PORT: "1" });
    cleanups.push(() => stopProcess(server.child, "SIGTERM"));
    let serverLog = "";
    for (const stream of [server.child.stdout, server.child.stderr]) stream.on("data", (chunk) => (serverLog += chunk));

    // An earlier current.sql made something that the present one no longer says: it stays in the
    // development database, and so in data/schema.sql, until the database is rebuilt.
    const original = await fs.readFile(current, "utf8");
    await saved(current, original + LEFTOVER, runs);
    await saved(current, original, runs);
    expect(await fs.readFile(schemaSql, "utf8")).toContain("zz_fixture_leftover");
    const rebuilt = run("db.ts", "rebuild", "--yes");
    expect(rebuilt, rebuilt.err).toMatchObject({
      code: 0,
      out: expect.stringMatching(/database stoflow rebuilt from the committed migrations and current\.sql\n$/),
    });
    expect(await fs.readFile(schemaSql, "utf8")).not.toContain("zz_fixture_leftover");

    // The server, its connections ended by the rebuild, serves the new database: tenants sign up.
    await until("the server serves the rebuilt database", async () => (await http(server.url, "GET", "/ready")).status === 200, 60_000);
    const shops = [];
    for (let i = 0; i < 3; i++) shops.push(await signUp(server.url, `Loop Shop ${i}`));
    const token = shops[0]!.access_token as string;

    // The shipped example pasted into current.sql; a tenant's requests meanwhile never meet a 503.
    const statuses: number[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) statuses.push((await graphql(server.url, "{ products { totalCount } }", {}, token)).status);
    })();
    await saved(current, original + (await fs.readFile(EXAMPLE, "utf8")), runs);
    expect(watchLog).not.toMatch(/🛑/);
    await until(
      "the new column shows in the API without a restart",
      async () => {
        const res = await graphql(server.url, '{ __type(name: "Product") { fields { name description } } }', {}, token);
        return res.body.data?.__type.fields.some((f: { name: string }) => f.name === "gtin") ?? false;
      },
      60_000,
    );
    const created = await graphql(
      server.url,
      'mutation { createProduct(input: { product: { sku: "G-1", title: "Barcoded", price: "5", gtin: "12345678" } }) { product { gtin } } }',
      {},
      token,
    );
    expect(created.body).toEqual({ data: { createProduct: { product: { gtin: "12345678" } } } });
    const refused = await graphql(
      server.url,
      'mutation { createProduct(input: { product: { sku: "G-2", title: "Bad code", price: "5", gtin: "12" } }) { product { gtin } } }',
      {},
      token,
    );
    expect(refused.body.errors).toEqual([
      expect.objectContaining({ message: "gtin must be 8 to 14 digits", extensions: { code: "INVALID_INPUT", field: "gtin" } }),
    ]);
    for (const shop of shops.slice(1)) {
      expect(
        (await graphql(server.url, "{ products(filter: { gtin: { isNull: true } }) { totalCount } }", {}, shop.access_token)).body,
      ).toEqual({ data: { products: { totalCount: 0 } } });
    }
    polling = false;
    await poll;
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set([200]));
    expect((await owner.query("select * from app_private.tenant_structure_drift()")).rows).toEqual([]);

    // The reviewable files, then the suite's own SQL and schema tests, on the copy.
    await until("watch rewrote data/schema.sql", async () => (await fs.readFile(schemaSql, "utf8")).includes("gtin"), 30_000);
    expect(run("export-schema.ts")).toMatchObject({ code: 0 });
    expect(await fs.readFile(path.join(work, "schema.graphql"), "utf8")).toMatch(
      /"""Global trade item number \(barcode\)\."""\s+gtin: String/,
    );
    const suite = spawnSync(process.execPath, [path.join(PROJECT, "node_modules/vitest/vitest.mjs"), "run", ...SUITE_FILES], {
      cwd: work,
      env: suiteEnv(),
      encoding: "utf8",
      timeout: 600_000,
    });
    expect(suite.status, suite.stdout + suite.stderr).toBe(0);
    expect(suite.stdout).toMatch(/Test Files +4 passed \(4\)/);

    // Commit (exit 0, the step now immutable), migrate, no drift.
    const committed = run("db.ts", "commit", "products gtin");
    expect(committed, committed.err + committed.out).toMatchObject({ code: 0 });
    const files = await fs.readdir(path.join(work, "migrations", "committed"));
    expect(await fs.readFile(path.join(work, "migrations", "committed", files.sort().at(-1)!), "utf8")).toContain("products_gtin_check");
    expect(run("migrate.ts")).toMatchObject({ code: 0 });
    expect(run("stoflow.ts", "tenants:check")).toMatchObject({ code: 0, err: "every tenant schema matches the template\n" });
    const edited = (await fs.readFile(EXAMPLE, "utf8"))
      .match(/select app_private\.add_tenant_ddl_step[\s\S]*?\$step\$\);/)![0]
      .replace("8 to 14 digits", "8 to 14 digits long");
    await expect(owner.query(edited)).rejects.toThrow(/"products.gtin" is committed and cannot change/);

    // Stopping npm start while watch runs (then watch): expected disconnects, no stack trace.
    await stopProcess(server.child, "SIGINT");
    await stopProcess(watch, "SIGINT");
    expect(serverLog).toMatch(/database connection lost: terminating connection due to administrator command/); // the rebuild's
    expect(serverLog + watchLog).not.toMatch(/(\n|\\n)\s+at /);
  },
);

/** The files the loop touches, copied; src and the suite's tests linked (graphile-migrate's hooks and vitest run them from here). */
async function projectCopy(): Promise<string> {
  const work = await temporaryDataDir("stoflow-dba-");
  cleanups.push(() => fs.rm(work, { recursive: true, force: true }));
  for (const entry of [".gmrc", "schema.graphql", "package.json", "tsconfig.json", "vitest.config.ts"])
    await fs.cp(path.join(PROJECT, entry), path.join(work, entry));
  for (const folder of ["migrations", "data"]) await fs.cp(path.join(PROJECT, folder), path.join(work, folder), { recursive: true });
  for (const link of ["src", "test", "node_modules"]) await fs.symlink(path.join(PROJECT, link), path.join(work, link));
  return work;
}

/** Writes current.sql and waits until watch has run it (finished or failed). */
async function saved(file: string, text: string, runs: () => number): Promise<void> {
  const before = runs();
  await fs.writeFile(file, text);
  await until("watch ran the saved current.sql", () => runs() > before, 120_000);
}

/**
 * The environment of a vitest run of its own: none of this run's own settings (workers, coverage
 * checks, the cluster and PgBouncer of npm run test:pgbouncer, whose template database it would replace).
 */
function suiteEnv(): NodeJS.ProcessEnv {
  return {
    ...Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !/^(VITEST|TEST$|TEST_|SQL_COVERAGE|SECURITY_REPORT|NODE_ENV)/.test(name)),
    ),
    NO_COLOR: "1",
  };
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<unknown> {
  if (child.exitCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill(signal);
  return exited;
}

import { spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareDatabase } from "../../src/db/database.ts";
import { loadDevSecrets } from "../../src/db/dev-secrets.ts";
import { temporaryDataDir } from "../../src/db/embedded.ts";
import { dumpSchema } from "../../src/db/schema-dump.ts";
import { postgresUrl } from "../../src/db/urls.ts";
import { spawnServer } from "../helpers/gateway.ts";
import { ownEmbeddedConfig, removeOwnClusters } from "../helpers/embedded.ts";

/**
 * The operator commands run beside a running `npm start` on its embedded cluster, as an operator
 * runs them: they find the cluster through its postmaster.pid (STOFLOW_PG_PORT is deliberately
 * wrong here), never start a second one, and answer with the exit codes the README lists.
 */
let dataDir: string;
let clusterPort: number;
let server: Awaited<ReturnType<typeof spawnServer>>;
let owner: pg.Pool;

beforeAll(async () => {
  // A cluster with the work in progress too (npm start applies committed migrations only).
  const config = await ownEmbeddedConfig();
  await (await prepareDatabase(config, () => {})).stop();
  [dataDir, clusterPort] = [config.dataDir, config.embeddedPort];
  server = await spawnServer("", { STOFLOW_DATA_DIR: dataDir, STOFLOW_PG_PORT: String(clusterPort) });
  const secrets = await loadDevSecrets(dataDir);
  owner = new pg.Pool({ connectionString: postgresUrl("stoflow_owner", secrets.ownerPassword, clusterPort, "stoflow"), max: 1 });
});
afterAll(async () => {
  await owner?.end();
  server?.child.kill("SIGTERM");
  await server?.exited;
  await removeOwnClusters();
});

/** Runs one of src/cli's commands beside the server; stderr never holds a stack trace. */
function command(script: string, ...args: string[]) {
  return commandWith({}, script, ...args);
}

function commandWith(env: NodeJS.ProcessEnv, script: string, ...args: string[]) {
  const result = spawnSync(process.execPath, [script, ...args], {
    env: {
      ...process.env,
      STOFLOW_DATA_DIR: dataDir,
      STOFLOW_PG_PORT: "1",
      DATABASE_URL: "",
      DATABASE_OWNER_URL: "",
      BCRYPT_COST: "4",
      ENV_FILE: "/nonexistent",
      ...env,
    },
    encoding: "utf8",
    input: "select current_user;\n",
  });
  expect(result.stderr).not.toMatch(/\n\s+at /);
  return { code: result.status, out: result.stdout, err: result.stderr };
}

const stoflow = (...args: string[]) => command("src/cli/stoflow.ts", ...args);

// Each command is a process of its own (a few seconds each on a busy machine). What each command
// does is proven in-process (test/db/cli-commands.test.ts); here, that each script is wired to its
// process: arguments, environment, stdout, stderr, exit code.
describe("npm run stoflow, migrate, db, db:load, db:dump and schema:export beside a running server", { timeout: 180_000 }, () => {
  it("stoflow: creates a tenant on the running cluster, opens psql as the owner, exits 2 on wrong usage", async () => {
    const created = stoflow("tenants:create", "--name", "CLI Shop", "--email", "cli@shop.test", "--password", "cli password");
    expect(created.code, created.err).toBe(0);
    const { tenant_id: id, schema } = JSON.parse(created.out);
    expect((await owner.query("select schema_name from public.tenants where id = $1", [id])).rows).toEqual([{ schema_name: schema }]);
    expect(stoflow("psql")).toMatchObject({ code: 0, out: expect.stringMatching(/stoflow_owner/) });
    // npm run psql -- -c "…": psql's own arguments and its exit code (or the URL, without a psql).
    const counted = stoflow("psql", "-tA", "-c", "select count(*) from public.tenants");
    expect(counted).toMatchObject({ code: 0, out: expect.stringMatching(/^1\n$|stoflow_owner/) });
    if (!counted.out.includes("stoflow_owner")) expect(stoflow("psql", "--", "-c", "select 1 / 0").code).toBe(1);
    expect(stoflow("tenants:list", "--jsn")).toMatchObject({ code: 2, out: "", err: expect.stringMatching(/--jsn/) });
  });

  it("answers --help on stdout with exit 0 before touching anything, db reset and watch included", async () => {
    const before = (await owner.query("select count(*)::int as n from public.tenants")).rows[0].n;
    for (const argv of [["--help"], ["reset", "--help"], ["rebuild", "--yes", "--help"], ["watch", "--help"]]) {
      expect(command("src/cli/db.ts", ...argv), argv.join(" ")).toMatchObject({
        code: 0,
        err: "",
        out: expect.stringMatching(/^usage: npm run db -- <command>/),
      });
    }
    expect(stoflow("help")).toMatchObject({ code: 0, err: "", out: expect.stringMatching(/^usage: npm run stoflow -- <command>/) });
    expect(stoflow("bogus")).toMatchObject({ code: 2, out: "", err: expect.stringMatching(/^unknown command "bogus"\n/) });
    expect(command("src/cli/db.ts", "reset")).toMatchObject({ code: 2, out: "", err: expect.stringMatching(/^refusing without --yes/) });
    for (const script of ["src/cli/start.ts", "src/cli/worker.ts", "src/cli/migrate.ts"]) {
      expect(command(script, "--help"), script).toMatchObject({
        code: 0,
        err: "",
        out: expect.stringMatching(/^usage: npm (start|run worker|run migrate)\n/),
      });
    }
    expect((await owner.query("select count(*)::int as n from public.tenants")).rows[0].n).toBe(before);
  });

  it("migrate, db status, db:load, db:dump and schema:export use the running cluster", async () => {
    expect(command("src/cli/migrate.ts")).toMatchObject({ code: 0, out: expect.stringMatching(/migrations applied/) });
    expect(command("src/cli/db.ts", "status")).toMatchObject({ code: 0, out: expect.stringMatching(/"remainingMigrations":\[\]/) });
    expect(command("src/cli/load-sql.ts", "sql/platform-mappings.vinted.sql")).toMatchObject({
      code: 0,
      out: expect.stringMatching(/^loaded sql\/platform-mappings.vinted.sql$/m),
    });
    const folder = await temporaryDataDir("stoflow-cli-files-");
    try {
      const [dump, schema] = [path.join(folder, "schema.sql"), path.join(folder, "schema.graphql")];
      expect(command("src/cli/dump-schema.ts", dump)).toMatchObject({ code: 0, out: `${dump} written\n` });
      expect(await fs.readFile(dump, "utf8")).toBe(await dumpSchema(owner));
      expect(command("src/cli/export-schema.ts", schema)).toMatchObject({ code: 0, out: `${schema} written\n` });
      expect(await fs.readFile(schema, "utf8")).toBe(await fs.readFile("schema.graphql", "utf8"));
    } finally {
      await fs.rm(folder, { recursive: true, force: true });
    }
  });

  it("says in one line why it cannot run, with exit code 1", async () => {
    const elsewhere = await temporaryDataDir("stoflow-cli-other-");
    try {
      const clash = commandWith(
        { STOFLOW_DATA_DIR: elsewhere, STOFLOW_PG_PORT: String(clusterPort) },
        "src/cli/stoflow.ts",
        "tenants:list",
      );
      expect(clash.code).toBe(1);
      expect(clash.err).toMatch(new RegExp(`^tenants:list failed: Embedded PostgreSQL did not start on port ${clusterPort}`, "m"));
    } finally {
      await fs.rm(elsewhere, { recursive: true, force: true });
    }
  });
});

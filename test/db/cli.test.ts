import { spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareDatabase } from "../../src/db/database.ts";
import { loadDevSecrets } from "../../src/db/dev-secrets.ts";
import { temporaryDataDir } from "../../src/db/embedded.ts";
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
      ...process.env, STOFLOW_DATA_DIR: dataDir, STOFLOW_PG_PORT: "1", DATABASE_URL: "", DATABASE_OWNER_URL: "",
      BCRYPT_COST: "4", ENV_FILE: "/nonexistent", ...env,
    },
    encoding: "utf8",
    input: "select current_user;\n",
  });
  expect(result.stderr).not.toMatch(/\n\s+at /);
  return { code: result.status, out: result.stdout, err: result.stderr };
}

const stoflow = (...args: string[]) => command("src/cli/stoflow.ts", ...args);

// Each command is a process of its own (a few seconds each on a busy machine).
describe("npm run stoflow beside a running server", { timeout: 180_000 }, () => {
  it("exits 2 on wrong usage, with one line saying what is wrong, and 0 for --help", () => {
    expect(stoflow()).toMatchObject({ code: 2, err: expect.stringMatching(/usage: npm run stoflow -- <command>[\s\S]*tenants:check/) });
    expect(stoflow("--help")).toMatchObject({ code: 0, err: expect.stringMatching(/tenants:migrate \[--batch 50\] \[--tenant <id>\] \[--dry-run/) });
    expect(stoflow("tenants:create", "--help")).toMatchObject({ code: 0, err: expect.stringMatching(/--name <name> --email <email>/) });
    expect(stoflow("tenants:list", "--jsn")).toMatchObject({ code: 2, err: expect.stringMatching(/--jsn/) });
    expect(stoflow("tenants:migrate", "--batch", "abc")).toMatchObject({ code: 2, err: '--batch must be a whole number from 1 to 1000 (got "abc")\n' });
    expect(stoflow("tenants:migrate", "--tenant", "-3")).toMatchObject({ code: 2 });
    expect(stoflow("tenants:export", "abc")).toMatchObject({ code: 2, err: 'a tenant id is a whole number (got "abc")\n' });
    expect(stoflow("tenants:delete", "1")).toMatchObject({ code: 2, err: expect.stringMatching(/refusing without --yes/) });
  });

  it("refuses what the API refuses (one code path: the auth service), with exit code 2", () => {
    const short = stoflow("tenants:create", "--name", "Short", "--email", "short@cli.test", "--password", "short");
    expect(short).toMatchObject({ code: 2, err: "password must be at least 8 characters\n" });
    expect(stoflow("tenants:create", "--name", "Bad", "--email", "not-an-email", "--password", "long enough")).toMatchObject({ code: 2 });
    expect(stoflow("tenants:create", "--name", "Tier", "--email", "tier@cli.test", "--password", "long enough", "--tier", "gold"))
      .toMatchObject({ code: 2, err: expect.stringMatching(/tier/i) });
  });

  it("creates, lists, checks, migrates, exports and deletes a tenant; exit 1 for what failed", async () => {
    const created = stoflow("tenants:create", "--name", "CLI Shop", "--email", "cli@shop.test", "--password", "cli password");
    expect(created.code, created.err).toBe(0);
    const { tenant_id: id, schema } = JSON.parse(created.out);
    expect(schema).toBe(`client_${id}`);
    expect(stoflow("tenants:create", "--name", "Again", "--email", "CLI@shop.test", "--password", "cli password"))
      .toMatchObject({ code: 1, err: "tenants:create failed: Email already registered\n" });

    const listed = JSON.parse(stoflow("tenants:list", "--json").out);
    expect(listed).toContainEqual(expect.objectContaining({ id, name: "CLI Shop", tier: "starter", schema }));
    const table = stoflow("tenants:list").out.split("\n");
    expect(table[0]).toMatch(/^id +name +email +tier +status +active +schema +version +latest$/);
    expect(table).toContainEqual(expect.stringMatching(new RegExp(`^${id} +CLI Shop +cli@shop.test +starter +active +true +${schema} `)));

    expect(stoflow("tenants:check").code).toBe(0);
    await owner.query(`alter table ${schema}.products add column stray int`);
    const drift = stoflow("tenants:check");
    expect(drift.code).toBe(1);
    expect(drift.out).toMatch(new RegExp(`^${schema} +unexpected +column products.stray integer$`, "m"));
    expect(JSON.parse(stoflow("tenants:check", "--json").out).drift).toContainEqual(expect.objectContaining({ schema_name: schema }));
    await owner.query(`alter table ${schema}.products drop column stray`);

    expect(stoflow("migrate")).toMatchObject({ code: 0 });
    expect(stoflow("tenants:migrate", "--tenant", String(id))).toMatchObject({ code: 0, err: "0 tenant schemas migrated\n" });
    expect(JSON.parse(stoflow("tenants:migrate", "--dry-run", "--json").out)).toEqual([]);
    expect(stoflow("tenants:migrate", "--tenant", "999999")).toMatchObject({ code: 1, err: "tenants:migrate failed: no tenant 999999\n" });

    expect(JSON.parse(stoflow("tenants:export", String(id)).out).tenant.name).toBe("CLI Shop");
    expect(stoflow("tenants:export", "999999")).toMatchObject({ code: 1, err: "tenants:export failed: no tenant 999999\n" });
    expect(stoflow("tenants:delete", String(id), "--yes")).toMatchObject({ code: 0 });
    expect(stoflow("tenants:delete", String(id), "--yes")).toMatchObject({ code: 1 });
  });

  it("opens psql as the owner, and npm run migrate and db status use the running cluster", () => {
    expect(stoflow("psql")).toMatchObject({ code: 0, out: expect.stringMatching(/stoflow_owner/) });
    expect(command("src/cli/migrate.ts")).toMatchObject({ code: 0, out: expect.stringMatching(/migrations applied/) });
    expect(command("src/cli/db.ts", "status")).toMatchObject({ code: 0 });
  });

  it("says in one line why it cannot run, with exit code 1", async () => {
    const elsewhere = await temporaryDataDir("stoflow-cli-other-");
    try {
      const clash = commandWith({ STOFLOW_DATA_DIR: elsewhere, STOFLOW_PG_PORT: String(clusterPort) }, "src/cli/stoflow.ts", "tenants:list");
      expect(clash.code).toBe(1);
      expect(clash.err).toMatch(new RegExp(`^tenants:list failed: Embedded PostgreSQL did not start on port ${clusterPort}`, "m"));
    } finally {
      await fs.rm(elsewhere, { recursive: true, force: true });
    }
  });
});

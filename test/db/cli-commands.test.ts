import bcrypt from "bcrypt";
import { spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db as dbCommand } from "../../src/cli/db.ts";
import { dumpSchemaFile } from "../../src/cli/dump-schema.ts";
import { loadEnvFile } from "../../src/cli/env.ts";
import { exportSchema } from "../../src/cli/export-schema.ts";
import { loadSql } from "../../src/cli/load-sql.ts";
import { writeSettingsDocs } from "../../src/cli/settings-docs.ts";
import { migrate } from "../../src/cli/migrate.ts";
import { stoflow } from "../../src/cli/stoflow.ts";
import { dumpSchema } from "../../src/db/schema-dump.ts";
import { runTransaction } from "../../src/db/transaction.ts";
import { databaseEnv, runInProcess } from "../helpers/cli.ts";
import { createTestDatabase, registerTenant, type TestDatabase } from "../helpers/db.ts";

/**
 * The commands of src/cli run in this process, on a test database given by URL as in production
 * (test/db/cli.test.ts runs each script as a process of its own, beside an embedded cluster).
 */
let db: TestDatabase;
let folder: string;
const hasPsql = spawnSync("psql", ["--version"]).status === 0;
beforeAll(async () => {
  db = await createTestDatabase();
  folder = await fs.mkdtemp(path.join(os.tmpdir(), "stoflow-cli-"));
});
afterAll(async () => {
  await db?.close();
  await fs.rm(folder, { recursive: true, force: true });
});

const run = (...args: string[]) => runInProcess(stoflow, args, databaseEnv(db));

describe("npm run stoflow", () => {
  it("says so when a list is empty (before any tenant exists)", async () => {
    expect(await run("tenants:list")).toEqual({ code: 0, out: "", err: "no tenants\n" });
    expect(await run("tenants:list", "--json")).toEqual({ code: 0, out: "[]\n", err: "" });
    expect(await run("jobs:failed")).toEqual({ code: 0, out: "", err: "no failed jobs\n" });
  });

  it("exits 2 on wrong usage, with one line saying what is wrong, and 0 for help, on stdout", async () => {
    expect(await run()).toMatchObject({
      code: 2,
      out: "",
      err: expect.stringMatching(/^usage: npm run stoflow -- <command>[\s\S]*tenants:check/),
    });
    expect(await run("tenants:frobnicate")).toMatchObject({
      code: 2,
      out: "",
      err: expect.stringMatching(/^unknown command "tenants:frobnicate"\nusage: /),
    });
    expect(await run("--help")).toMatchObject({
      code: 0,
      err: "",
      out: expect.stringMatching(/tenants:migrate \[--batch 50\] \[--tenant <id>\] \[--dry-run/),
    });
    expect(await run("help")).toEqual(await run("--help"));
    const createHelp = await run("tenants:create", "--help");
    expect(createHelp).toMatchObject({ code: 0, err: "", out: expect.stringMatching(/--name <name> --email <email>/) });
    expect(createHelp.out).not.toContain("tenants:list");
    expect(await run("help", "tenants:create")).toEqual(createHelp);
    expect(await run("tenants:create", "--name", "Only a name")).toEqual({
      code: 2,
      out: "",
      err: "tenants:create needs --name, --email and --password\n",
    });
    expect(await run("tenants:list", "--jsn")).toMatchObject({ code: 2, err: expect.stringMatching(/--jsn/) });
    expect(await run("tenants:migrate", "--batch", "abc")).toEqual({
      code: 2,
      out: "",
      err: '--batch must be a whole number from 1 to 1000 (got "abc")\n',
    });
    expect(await run("tenants:migrate", "--batch", "1001")).toMatchObject({ code: 2 });
    expect(await run("tenants:migrate", "--tenant", "0")).toEqual({ code: 2, out: "", err: 'a tenant id is a whole number (got "0")\n' });
    expect(await run("tenants:export")).toEqual({ code: 2, out: "", err: "a tenant id is missing\n" });
    expect(await run("tenants:export", "abc")).toEqual({ code: 2, out: "", err: 'a tenant id is a whole number (got "abc")\n' });
    expect(await run("tenants:delete", "1")).toMatchObject({ code: 2, err: expect.stringMatching(/^refusing without --yes/) });
  });

  it("refuses what the API refuses (one code path: the auth service), with exit code 2", async () => {
    expect(await run("tenants:create", "--name", "Short", "--email", "short@cli.test", "--password", "short")).toEqual({
      code: 2,
      out: "",
      err: "password must be at least 8 characters\n",
    });
    expect(await run("tenants:create", "--name", "Bad", "--email", "not-an-email", "--password", "long enough")).toMatchObject({ code: 2 });
    expect(
      await run("tenants:create", "--name", "Tier", "--email", "tier@cli.test", "--password", "long enough", "--tier", "gold"),
    ).toMatchObject({ code: 2, err: expect.stringMatching(/tier/i) });
    expect((await db.owner.query("select count(*)::int as n from public.tenants where name in ('Short', 'Bad', 'Tier')")).rows[0].n).toBe(
      0,
    );
  });

  it("tenants:set-tier puts a tenant on a paid tier, active, only with --yes; a typo, --help or a missing flag changes nothing", async () => {
    const { tenant_id: tenantId } = await registerTenant(db.app, "Tier CLI", "owner@tier-cli.test", "premium");
    const tier = async () =>
      (await db.owner.query("select tier, status::text from subscriptions where tenant_id = $1 and end_date is null", [tenantId])).rows[0];
    expect(await tier()).toEqual({ tier: "premium", status: "trialing" });
    expect(await run("tenants:set-tier", "--help")).toMatchObject({
      code: 0,
      out: expect.stringMatching(/tenants:set-tier <tenant-id> <tier> --yes/),
    });
    expect(await run("tenants:set-tier", String(tenantId), "premium")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/^refusing without --yes/),
    });
    expect(await run("tenants:set-tier", String(tenantId))).toMatchObject({
      code: 2,
      err: "tenants:set-tier needs a tenant id and a tier\n",
    });
    expect(await run("tenants:set-tier", String(tenantId), "premium", "--yse")).toMatchObject({ code: 2 });
    expect(await run("tenants:set-tier", String(tenantId), "gold", "--yes")).toMatchObject({
      code: 2,
      err: 'Unknown subscription tier "gold"\n',
    });
    expect(await run("tenants:set-tier", "999999", "premium", "--yes")).toMatchObject({
      code: 1,
      err: "tenants:set-tier failed: no tenant 999999\n",
    });
    expect(await tier()).toEqual({ tier: "premium", status: "trialing" });
    expect(await run("tenants:set-tier", String(tenantId), "premium", "--yes")).toMatchObject({
      code: 0,
      err: `tenant ${tenantId} is on the premium tier\n`,
    });
    expect(await tier()).toEqual({ tier: "premium", status: "active" });
  });

  it("adds a user with the password given, or mails a reset link without one; exit 1 for a taken address or no tenant, 2 for bad input", async () => {
    const { tenant_id: tenantId } = await registerTenant(db.app, "Team CLI", "owner@team-cli.test");
    const add = (...args: string[]) => run("users:add", "--tenant", String(tenantId), ...args);
    const added = await add("--email", "mia@team-cli.test", "--role", "viewer", "--name", "Mia", "--password", "member password");
    expect(added.code, added.err).toBe(0);
    expect(JSON.parse(added.out)).toEqual({
      id: expect.any(Number),
      tenant_id: tenantId,
      email: "mia@team-cli.test",
      role: "viewer",
      password_set: true,
    });
    const member = async (email: string) =>
      (
        await db.owner.query(
          "select u.tenant_id, u.role, u.full_name, s.password_hash from public.users u join app_private.user_secrets s on s.user_id = u.id where u.email = $1",
          [email],
        )
      ).rows[0];
    expect(await member("mia@team-cli.test")).toMatchObject({ tenant_id: tenantId, role: "viewer", full_name: "Mia" });
    expect(await bcrypt.compare("member password", (await member("mia@team-cli.test")).password_hash)).toBe(true);

    expect(JSON.parse((await add("--email", "nopass@team-cli.test", "--role", "admin")).out)).toMatchObject({
      role: "admin",
      password_set: false,
    });
    expect((await db.owner.query("select 1 from graphile_worker.jobs where key = 'reset_password:nopass@team-cli.test'")).rowCount).toBe(1);

    expect(await add("--email", "OWNER@team-cli.test", "--role", "user", "--password", "member password")).toEqual({
      code: 1,
      out: "",
      err: "users:add failed: Email already registered\n",
    });
    expect(await add("--email", "x@team-cli.test", "--role", "owner")).toEqual({
      code: 2,
      out: "",
      err: "role must be admin, user or viewer\n",
    });
    expect(await add("--email", "Mia <mia2@team-cli.test>", "--role", "user")).toMatchObject({
      code: 2,
      err: "email is not a valid e-mail address\n",
    });
    expect(await add("--email", "short@team-cli.test", "--role", "user", "--password", "short")).toMatchObject({ code: 2 });
    expect(await add("--email", "y@team-cli.test")).toEqual({ code: 2, out: "", err: "users:add needs --tenant, --email and --role\n" });
    expect(await run("users:add", "--tenant", "999999", "--email", "z@team-cli.test", "--role", "user")).toEqual({
      code: 1,
      out: "",
      err: "users:add failed: no tenant 999999\n",
    });
    expect((await db.owner.query("select count(*)::int as n from public.users where tenant_id = $1", [tenantId])).rows[0].n).toBe(3);
  });

  it("creates, lists, checks, exports and deletes a tenant; exit 1 for what failed", async () => {
    const created = await run(
      "tenants:create",
      "--name",
      "CLI Shop",
      "--email",
      "cli@shop.test",
      "--password",
      "cli password",
      "--tier",
      "standard",
    );
    expect(created.code, created.err).toBe(0);
    const { tenant_id: id, schema } = JSON.parse(created.out);
    expect(schema).toBe(`client_${id}`);
    expect(await run("tenants:create", "--name", "Again", "--email", "CLI@shop.test", "--password", "cli password")).toEqual({
      code: 1,
      out: "",
      err: "tenants:create failed: Email already registered\n",
    });

    expect(JSON.parse((await run("tenants:list", "--json")).out)).toContainEqual(
      expect.objectContaining({ id, name: "CLI Shop", tier: "standard", status: "active", active: true, schema }),
    );
    const table = (await run("tenants:list")).out.split("\n");
    expect(table[0]).toMatch(/^id +name +email +tier +status +active +schema +version +latest$/);
    expect(table).toContainEqual(
      expect.stringMatching(new RegExp(`^${id} +CLI Shop +cli@shop.test +standard +active +true +${schema} +(\\d+) +\\1$`)),
    );

    await runTransaction(db.owner, { "jwt.claims.tenant_id": String(id) }, (client) =>
      client.query(`insert into ${schema}.products (sku, title, price) values ('CLI-1', 'Exported jacket', 12)`),
    );
    const exported = JSON.parse((await run("tenants:export", String(id))).out);
    expect(exported.tenant.name).toBe("CLI Shop");
    expect(exported.products).toEqual([expect.objectContaining({ sku: "CLI-1", title: "Exported jacket" })]);
    expect(await run("tenants:export", "999999")).toEqual({ code: 1, out: "", err: "tenants:export failed: no tenant 999999\n" });

    expect(await run("tenants:delete", String(id), "--yes")).toEqual({ code: 0, out: "", err: `tenant ${id} deleted\n` });
    expect((await db.owner.query("select 1 from pg_namespace where nspname = $1", [schema])).rowCount).toBe(0);
    expect(await run("tenants:delete", String(id), "--yes")).toEqual({ code: 1, out: "", err: `tenants:delete failed: no tenant ${id}\n` });
  });

  it("tells a tenant schema that drifted from the template, as a table or JSON, the same with --full, with exit code 1", async () => {
    const { tenant_id: id } = await registerTenant(db.app, "Drift Shop", "drift@cli.test");
    expect(await run("tenants:check")).toEqual({ code: 0, out: "", err: "every tenant schema matches the template\n" });
    await db.owner.query(`alter table client_${id}.products add column zz_fixture_stray int`);
    try {
      const drift = await run("tenants:check");
      expect(drift.code).toBe(1);
      expect(drift.out).toMatch(new RegExp(`^schema_name +.*\\nclient_${id} +unexpected +column products.zz_fixture_stray integer$`, "m"));
      expect(drift.err).toBe("0 tenant schemas lag behind the template; 1 differences\n");
      expect(JSON.parse((await run("tenants:check", "--json")).out)).toEqual({
        lagging: [],
        drift: [expect.objectContaining({ schema_name: `client_${id}` })],
      });
      expect(await run("tenants:check", "--full")).toEqual(drift);
      expect(await run("tenants:check", "--help")).toMatchObject({
        code: 0,
        err: "",
        out: expect.stringMatching(/^ {2}tenants:check \[--full\] \[--json\]\n.*--full: every schema line by line/m),
      });
      expect(await run("tenants:check", "--fulll")).toMatchObject({ code: 2, out: "", err: expect.stringMatching(/--fulll/) });
    } finally {
      await db.owner.query(`alter table client_${id}.products drop column zz_fixture_stray`);
    }
  });

  it("migrates each tenant past a step one tenant's data breaks, names that tenant, and finishes it once its data is fixed", async () => {
    const [cheap, dear] = [
      await registerTenant(db.app, "Cheap Shop", "cheap@cli.test"),
      await registerTenant(db.app, "Dear Shop", "dear@cli.test"),
    ];
    await runTransaction(db.owner, { "jwt.claims.tenant_id": String(dear.tenant_id) }, (client) =>
      client.query(`insert into client_${dear.tenant_id}.products (sku, title, price) values ('GOLD', 'Gold watch', 5000)`),
    );
    const step = "alter table {schema}.products add constraint zz_fixture_cli_cap check (price < 1000)";
    const version = (
      await db.owner.query("select app_private.add_tenant_ddl_step('test fixture: products.zz_fixture_cli_cap', $1) as v", [step])
    ).rows[0].v;

    expect(JSON.parse((await run("tenants:migrate", "--dry-run", "--json", "--tenant", String(cheap.tenant_id))).out)).toEqual([
      expect.objectContaining({ tenant_id: cheap.tenant_id, missing: ["test fixture: products.zz_fixture_cli_cap"] }),
    ]);
    const dryRun = await run("tenants:migrate", "--dry-run");
    expect(dryRun.err).toMatch(/^\d+ tenant schemas lack a step$/m);
    expect(dryRun.out).toMatch(
      new RegExp(
        `^${dear.tenant_id} +client_${dear.tenant_id} +${version - 1} +${version} +test fixture: products.zz_fixture_cli_cap`,
        "m",
      ),
    );

    const failed = await run("tenants:migrate", "--batch", "1");
    expect(failed.code).toBe(1);
    expect(failed.err).toContain(
      `tenant ${dear.tenant_id} (client_${dear.tenant_id}) lags: step ${version} "test fixture: products.zz_fixture_cli_cap": `,
    );
    expect(failed.err).toMatch(/^\d+ tenant schemas migrated, 1 failed$/m);
    const lagging = await run("tenants:check");
    expect(lagging.code).toBe(1);
    expect(lagging.err).toMatch(/^1 tenant schemas lag behind the template; [1-9]\d* differences\n$/); // the constraint it lacks
    expect(lagging.out).toMatch(
      new RegExp(`^${dear.tenant_id} +client_${dear.tenant_id} +${version - 1} +${version} +step ${version}`, "m"),
    );
    expect(await runInProcess(migrate, [], databaseEnv(db))).toMatchObject({
      code: 1,
      out: expect.stringMatching(/migrations applied; some tenants failed \(above\)\n$/),
    });
    expect(await run("migrate")).toMatchObject({
      code: 1,
      err: expect.stringContaining(`tenant ${dear.tenant_id} (client_${dear.tenant_id}) lags`),
    });

    await runTransaction(db.owner, { "jwt.claims.tenant_id": String(dear.tenant_id) }, (client) =>
      client.query(`update client_${dear.tenant_id}.products set price = 900`),
    );
    expect(await run("tenants:migrate", "--tenant", String(dear.tenant_id))).toMatchObject({
      code: 0,
      err: expect.stringMatching(/^1 tenant schemas migrated$/m),
    });
    expect(await run("tenants:migrate", "--tenant", "999999")).toEqual({
      code: 1,
      out: "",
      err: "tenants:migrate failed: no tenant 999999\n",
    });
    expect(await run("migrate")).toMatchObject({ code: 0 });
    expect(await runInProcess(migrate, [], databaseEnv(db))).toMatchObject({
      code: 0,
      out: expect.stringMatching(/migrations applied\n$/),
    });
    expect(await run("tenants:check")).toMatchObject({ code: 0 });
  });

  it("prints the owner's connection URL when psql is not installed", async () => {
    const result = await runInProcess(stoflow, ["psql"], databaseEnv(db, { PATH: folder }));
    expect(result).toEqual({ code: 0, out: `${db.ownerUrl}\n`, err: expect.stringMatching(/^psql is not installed/) });
    expect(await runInProcess(stoflow, ["psql", "-c", "select 1"], databaseEnv(db, { PATH: folder }))).toEqual(result);
  });

  it.skipIf(!hasPsql)("passes psql its own arguments (-c, -f, -v, -o, after a `--` too) and returns psql's exit code", async () => {
    const [script, answer] = [path.join(folder, "psql-script.sql"), path.join(folder, "psql-answer.txt")];
    await fs.writeFile(script, "select 1 + :n;\n");
    expect(await run("psql", "-tA", "-v", "n=41", "-f", script, "-o", answer)).toEqual({ code: 0, out: "", err: "" });
    expect(await fs.readFile(answer, "utf8")).toBe("42\n");
    expect(await run("psql", "--", "-tA", "-c", "select 'after --'", "-o", answer)).toMatchObject({ code: 0 });
    expect(await fs.readFile(answer, "utf8")).toBe("after --\n");
    expect((await run("psql", "-c", "select 1 / 0", "-o", answer)).code).toBe(1);
  });

  it("asks for the tenant's name on a terminal before deleting it without --yes; a wrong answer changes nothing", async () => {
    const { tenant_id: id } = await registerTenant(db.app, "Typed Shop", "typed@cli.test");
    const asked = (answer: string) => runInProcess(stoflow, ["tenants:delete", String(id)], databaseEnv(db), [answer]);
    expect(await asked("Typed")).toEqual({
      code: 1,
      out: "",
      err: `This deletes the tenant and all its data (tenant ${id}). Type Typed Shop to go on: not confirmed: nothing was changed\n`,
    });
    expect((await db.owner.query("select 1 from public.tenants where id = $1", [id])).rowCount).toBe(1);
    expect(await asked("Typed Shop")).toMatchObject({ code: 0, err: expect.stringMatching(`tenant ${id} deleted\n$`) });
    expect((await db.owner.query("select 1 from public.tenants where id = $1", [id])).rowCount).toBe(0);
  });
});

describe("--help, typos and missing flags change nothing", () => {
  it("answers --help of every stoflow command and db sub-command on stdout with exit 0, against a database holding tenants", async () => {
    for (let i = 0; i < 3; i++) await registerTenant(db.app, `Help Shop ${i}`, `help${i}@cli.test`);
    const state = async () => ({
      tenants: (await db.owner.query("select id, name, schema_name from public.tenants order by id")).rows,
      schemas: (
        await db.owner.query(
          "select nspname, (select count(*)::int from pg_class where relnamespace = n.oid) as relations from pg_namespace n order by 1",
        )
      ).rows,
      migrations: (await db.owner.query("select filename from graphile_migrate.migrations order by filename")).rows,
      files: await Promise.all(["data/schema.sql", "schema.graphql", "migrations/current.sql"].map((file) => fs.readFile(file, "utf8"))),
    });
    const before = await state();
    const DROPS_DATA = new Set(["tenants:delete", "tenants:set-tier", "reset", "rebuild"]);
    const names = (help: string) => [...help.matchAll(/^ {2}(\S+)/gm)].map((match) => match[1]);
    const stoflowNames = names((await run("--help")).out);
    const dbNames = names((await runInProcess(dbCommand, ["--help"], databaseEnv(db))).out);
    expect(stoflowNames).toHaveLength(12);
    expect(dbNames).toEqual(["watch", "commit", "uncommit", "status", "reset", "rebuild"]);
    for (const [main, name] of [...stoflowNames.map((n) => [stoflow, n] as const), ...dbNames.map((n) => [dbCommand, n] as const)]) {
      for (const help of ["--help", "-h"]) {
        // --help wins over --yes: asking how to drop data never drops it.
        const answer = await runInProcess(main, [name, help, ...(DROPS_DATA.has(name) ? ["--yes"] : [])], databaseEnv(db));
        expect(answer, `${name} ${help}`).toMatchObject({ code: 0, err: "", out: expect.stringContaining(`\n  ${name}`) });
      }
    }
    // Typos and missing flags: wrong usage (2) or a refusal, before anything is touched.
    for (const argv of [
      ["tenants:delet", "1", "--yes"],
      ["tenants:delete", "1"],
      ["tenants:set-tier", "1", "enterprise"],
      ["tenants:set-tier", "1", "enterprise", "--yess"],
      ["tenants:create"],
      ["jobs:retry"],
      ["users:add", "--tenant", "1"],
    ]) {
      expect((await run(...argv)).code, argv.join(" ")).toBe(2);
    }
    for (const argv of [["rebuild"], ["reset"], ["rebuild", "--yess"], ["watch", "--yes"], ["rebuilt", "--yes"]]) {
      expect((await runInProcess(dbCommand, argv, databaseEnv(db))).code, argv.join(" ")).toBe(2);
    }
    expect(await runInProcess(dbCommand, ["rebuild"], databaseEnv(db), ["stoflow"])).toMatchObject({
      code: 1,
      err: expect.stringMatching(/not confirmed: nothing was changed\n$/),
    });
    // The scripts of one command each: --help answered, a flag they do not take refused, nothing run or written.
    for (const [main, script] of [
      [migrate, "migrate"],
      [dumpSchemaFile, "db:dump"],
      [exportSchema, "schema:export"],
      [loadSql, "db:load"],
      [writeSettingsDocs, "settings:docs"],
    ] as const) {
      expect(await runInProcess(main, ["--help"], databaseEnv(db)), script).toMatchObject({
        code: 0,
        err: "",
        out: expect.stringMatching(`^usage: npm run ${script}`),
      });
      expect(await runInProcess(main, ["--dry-run"], databaseEnv(db)), script).toMatchObject({
        code: 2,
        out: "",
        err: expect.stringMatching(/^unknown option --dry-run\n/),
      });
    }
    expect(await runInProcess(migrate, ["now"], databaseEnv(db))).toMatchObject({
      code: 2,
      err: expect.stringMatching(/^unexpected argument now\n/),
    });
    await expect(fs.access("--help")).rejects.toThrow();
    expect(await state()).toEqual(before);
  });
});

describe("what every command needs", () => {
  it("reads .env (or ENV_FILE) under the variables already set, which win", async () => {
    const file = path.join(folder, "test.env");
    await fs.writeFile(file, "# a comment\nPORT=4000\nLOG_LEVEL=debug\nJWT_SECRET='quoted secret'\n");
    const env: NodeJS.ProcessEnv = { ENV_FILE: file, PORT: "5000" };
    loadEnvFile(env);
    expect(env).toEqual({ ENV_FILE: file, PORT: "5000", LOG_LEVEL: "debug", JWT_SECRET: "quoted secret" });
    const without: NodeJS.ProcessEnv = { PORT: "5000" };
    loadEnvFile(without, path.join(folder, "missing.env"));
    expect(without).toEqual({ PORT: "5000" });
  });

  it("says that an external database needs its owner's connection", async () => {
    const env = { DATABASE_URL: db.appUrl };
    expect(await runInProcess(stoflow, ["tenants:list"], env)).toEqual({
      code: 2,
      out: "",
      err: "DATABASE_OWNER_URL is required with DATABASE_URL\n",
    });
    expect(await runInProcess(migrate, [], env)).toEqual({
      code: 2,
      out: "",
      err: "DATABASE_OWNER_URL is required to migrate an external database.\n",
    });
    expect(await runInProcess(dbCommand, ["status"], env)).toEqual({
      code: 1,
      out: "",
      err: "db status failed: DATABASE_OWNER_URL is required with DATABASE_URL\n",
    });
    expect(await runInProcess(loadSql, ["x.sql"], env)).toEqual({
      code: 1,
      out: "",
      err: "db:load failed: DATABASE_OWNER_URL is required\n",
    });
  });

  it("says in one line that a setting is wrong, with exit code 1", async () => {
    expect(await runInProcess(stoflow, ["tenants:list"], databaseEnv(db, { STOFLOW_PG_PORT: "70000" }))).toEqual({
      code: 1,
      out: "",
      err: 'tenants:list failed: STOFLOW_PG_PORT must be a whole number from 1 to 65535 (got "70000")\n',
    });
  });
});

describe("npm run db, db:load, db:dump and schema:export", () => {
  it("db: graphile-migrate's status of the database, and usage", async () => {
    const usage = await runInProcess(dbCommand, [], databaseEnv(db));
    expect(usage).toMatchObject({
      code: 2,
      out: "",
      err: expect.stringMatching(/^usage: npm run db -- <command> \[options\]\n[\s\S]*\n {2}rebuild --yes\n/),
    });
    expect(await runInProcess(dbCommand, ["--help"], databaseEnv(db))).toEqual({ code: 0, out: usage.err, err: "" });
    expect(await runInProcess(dbCommand, ["resett", "--yes"], databaseEnv(db))).toEqual({
      code: 2,
      out: "",
      err: `unknown command "resett"\n${usage.err}`,
    });
    expect(await runInProcess(dbCommand, ["status", "--once"], databaseEnv(db))).toEqual({
      code: 2,
      out: "",
      err: "db status does not take --once\n",
    });
    expect(await runInProcess(dbCommand, ["status"], databaseEnv(db))).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^db status failed: .*settings validation:\n.*SHADOW_DATABASE_URL/),
    });
    const shadowUrl = db.ownerUrl.replace(/\/[^/]*$/, `/${db.name}_shadow`);
    const status = await runInProcess(dbCommand, ["status"], databaseEnv(db, { SHADOW_DATABASE_URL: shadowUrl }));
    expect(status.code, status.err).toBe(0);
    expect(JSON.parse(status.out)).toMatchObject({ remainingMigrations: [] });
  });

  it("db:load: each file in one transaction, named when it fails", async () => {
    expect(await runInProcess(loadSql, [], databaseEnv(db))).toEqual({
      code: 2,
      out: "",
      err: "usage: npm run db:load -- <file.sql> [more.sql…]\n",
    });
    const broken = path.join(folder, "broken.sql");
    await fs.writeFile(broken, "create table public.cli_load_probe (id int);\nselect 1 / 0;\n");
    expect(await runInProcess(loadSql, [broken], databaseEnv(db))).toMatchObject({
      code: 1,
      err: `db:load failed: ${broken}: division by zero\n`,
    });
    expect((await db.owner.query("select to_regclass('public.cli_load_probe') as t")).rows[0].t).toBeNull();

    const mappings = "sql/platform-mappings.vinted.sql";
    expect(await runInProcess(loadSql, [mappings], databaseEnv(db))).toMatchObject({
      code: 0,
      out: expect.stringMatching(`loaded ${mappings}\n$`),
    });
    expect((await db.owner.query("select count(*)::int as n from public.platform_mappings where platform = 'vinted'")).rows[0].n).toBe(42);
  });

  it("db:dump writes the database's schema, from GM_DBURL (graphile-migrate's hooks) or the configured database", async () => {
    const expected = await dumpSchema(db.owner);
    for (const [file, env] of [
      ["hook.sql", { GM_DBURL: db.ownerUrl }],
      ["configured.sql", databaseEnv(db)],
    ] as const) {
      const target = path.join(folder, file);
      expect(await runInProcess(dumpSchemaFile, [target], env)).toEqual({ code: 0, out: `${target} written\n`, err: "" });
      expect(await fs.readFile(target, "utf8")).toBe(expected);
    }
    expect(await runInProcess(dumpSchemaFile, [path.join(folder, "no/such/folder.sql")], { GM_DBURL: db.ownerUrl })).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^db:dump failed: ENOENT/),
    });
  });

  it("schema:export writes the committed schema.graphql's text (the database is the template's)", async () => {
    const target = path.join(folder, "schema.graphql");
    expect(await runInProcess(exportSchema, [target], databaseEnv(db))).toEqual({ code: 0, out: `${target} written\n`, err: "" });
    expect(await fs.readFile(target, "utf8")).toBe(await fs.readFile("schema.graphql", "utf8"));
  });
});

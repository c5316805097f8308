import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTransaction } from "../../src/db/transaction.ts";
import { applyPendingTenantSteps, progressEverySecond, progressLine } from "../../src/db/tenant-migrations.ts";
import {
  asSession,
  createTestDatabase,
  expectPgError,
  registerTenant,
  userSession,
  type Claims,
  type TestDatabase,
} from "../helpers/db.ts";
import { PG_ROLE_OF } from "../../src/auth/roles.ts";

let db: TestDatabase;
let tenants: Claims[];
let baseVersion: number;

beforeAll(async () => {
  db = await createTestDatabase();
  baseVersion = (await db.owner.query("select max(version) as v from app_private.tenant_ddl_steps")).rows[0].v;
  tenants = [];
  for (let i = 0; i < 50; i++) tenants.push(await registerTenant(db.app, `Shop ${i}`, `shop${i}@ddl.test`));
});
afterAll(() => db.close());

async function drift(): Promise<{ schema_name: string; difference: string; object: string }[]> {
  return (await db.owner.query("select * from app_private.tenant_structure_drift()")).rows;
}

// The suite's own step: names no DBA would write, so a real step in current.sql never collides with it.
const FIXTURE_STEP_NAME = "test fixture: products.zz_fixture_code";
const FIXTURE_STEP =
  "alter table {schema}.products add column if not exists zz_fixture_code varchar(14) check (zz_fixture_code ~ '^[0-9]{8,14}$');" +
  " comment on column {schema}.products.zz_fixture_code is 'A code of the test fixture.';" +
  " grant insert (zz_fixture_code), update (zz_fixture_code) on {schema}.products to stoflow_user;";

describe("tenant DDL steps", () => {
  it("passes the structure check for 50 fresh tenants", async () => {
    expect(await drift()).toEqual([]);
  });

  it("applies an appended step to the template at once and to every tenant in batches", async () => {
    const { rows } = await db.owner.query("select app_private.add_tenant_ddl_step($1, $2) as version", [FIXTURE_STEP_NAME, FIXTURE_STEP]);
    const version = rows[0].version;
    expect(version).toBe(baseVersion + 1);

    const behind = await drift();
    expect(new Set(behind.map((d) => d.schema_name)).size).toBe(50);
    expect(behind).toContainEqual({
      schema_name: `client_${tenants[0].tenant_id}`,
      difference: "missing",
      object: "column products.zz_fixture_code character varying(14)",
    });

    const progress: number[] = [];
    const { migrated, failures } = await applyPendingTenantSteps(db.owner, 7, { onProgress: (p) => progress.push(p.done) });
    expect(migrated).toBe(50);
    expect(failures).toEqual([]);
    expect(progress).toEqual([7, 14, 21, 28, 35, 42, 49, 50]);
    expect(await drift()).toEqual([]);
    const versions = await db.owner.query("select distinct version from app_private.tenant_schemas");
    expect(versions.rows).toEqual([{ version }]);

    const last = tenants[49];
    await asSession(db.app, userSession(last, PG_ROLE_OF.user), (c) =>
      c.query("insert into products (sku, title, price, zz_fixture_code) values ('G', 'Barcoded', 5, '12345678')"),
    );
    expect((await applyPendingTenantSteps(db.owner, 7)).migrated).toBe(0);
  });

  it("gives a tenant registered after the step the same structure", async () => {
    await registerTenant(db.app, "Late Shop", "late@ddl.test");
    expect(await drift()).toEqual([]);
  });

  it("names the schema and the difference when one tenant drifts", async () => {
    const victim = `client_${tenants[17].tenant_id}`;
    await db.owner.query(`alter table ${victim}.products add column zz_fixture_stray text`);
    await db.owner.query(`drop policy own_tenant on ${victim}.ai_generations_log`);
    const found = await drift();
    expect(found.map((d) => d.schema_name)).toEqual([victim, victim]);
    expect(found).toContainEqual({ schema_name: victim, difference: "unexpected", object: "column products.zz_fixture_stray text" });
    expect(found).toContainEqual(
      expect.objectContaining({
        schema_name: victim,
        difference: "missing",
        object: expect.stringMatching(/^policy ai_generations_log\.own_tenant ALL/),
      }),
    );
  });

  it("is idempotent for the same step; a step not yet committed may change and runs again everywhere; a committed one never", async () => {
    const again = await db.owner.query("select app_private.add_tenant_ddl_step($1, $2) as version", [FIXTURE_STEP_NAME, FIXTURE_STEP]);
    expect(again.rows[0].version).toBe(baseVersion + 1);
    const edited = FIXTURE_STEP.replace("A code of the test fixture.", "Edited code of the test fixture.");
    const changed = await db.owner.query("select app_private.add_tenant_ddl_step($1, $2) as version", [FIXTURE_STEP_NAME, edited]);
    expect(changed.rows[0].version).toBe(baseVersion + 1);
    const { rows } = await db.owner.query(`
      select count(*)::int as n from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
       where c.relname = 'products' and a.attname = 'zz_fixture_code' and col_description(c.oid, a.attnum) = 'Edited code of the test fixture.'`);
    expect(rows[0].n).toBe(tenants.length + 2); // every tenant, the late shop and the template
    await expectPgError(
      db.owner.query("select app_private.add_tenant_ddl_step($1, $2)", [FIXTURE_STEP_NAME, edited.replace(" if not exists", "")]),
      "22023",
      /changed, but its new SQL failed on tenant_template: column "zz_fixture_code" of relation "products" already exists/,
    );
    await expectPgError(
      db.owner.query("select app_private.add_tenant_ddl_step('tenant tables', 'select 1')"),
      "22023",
      /"tenant tables" is committed and cannot change; add a new step instead/,
    );
  });

  it("names the step and the schema when a new step fails on the template, and keeps nothing of it", async () => {
    const before = (await db.owner.query("select max(version) as v from app_private.tenant_ddl_steps")).rows[0].v;
    await expectPgError(
      db.owner.query("select app_private.add_tenant_ddl_step('test fixture: broken everywhere', $1)", [
        "create index if not exists zz_fixture_broken on {schema}.products (zz_no_such_column)",
      ]),
      "42703",
      new RegExp(
        `^Tenant DDL step ${before + 1} "test fixture: broken everywhere" failed on tenant_template: column "zz_no_such_column" does not exist \\[42703\\]$`,
      ),
    );
    expect((await db.owner.query("select max(version) as v from app_private.tenant_ddl_steps")).rows[0].v).toBe(before);
  });

  it("under db watch (stoflow.catch_up_tenants = on) brings every tenant along in the step's own transaction, or fails it whole naming the tenant", async () => {
    const devWatch = <T>(work: (client: pg.PoolClient) => Promise<T>) =>
      runTransaction(db.owner, { "stoflow.catch_up_tenants": "on" }, work);
    const victim = tenants[5];
    await asSession(db.app, userSession(victim, PG_ROLE_OF.user), (c) =>
      c.query("insert into products (sku, title, price) values ('DEAR', 'Dear', 5000)"),
    );
    const capStep = [
      "test fixture: products.zz_fixture_dev_cap",
      "alter table {schema}.products add constraint zz_fixture_dev_cap check (price < 1000)",
    ];
    const before = (await db.owner.query("select max(version) as v from app_private.tenant_ddl_steps")).rows[0].v;
    await expectPgError(
      devWatch((c) => c.query("select app_private.add_tenant_ddl_step($1, $2)", capStep)),
      "23514",
      new RegExp(
        `^Tenant DDL step ${before + 1} "test fixture: products.zz_fixture_dev_cap" failed on tenant ${victim.tenant_id} \\(client_${victim.tenant_id}\\): ` +
          `check constraint "zz_fixture_dev_cap" of relation "products" is violated by some row \\[23514\\]$`,
      ),
    );
    expect((await db.owner.query("select max(version) as v from app_private.tenant_ddl_steps")).rows[0].v).toBe(before);

    const { rows } = await devWatch((c) =>
      c.query("select app_private.add_tenant_ddl_step($1, $2) as version", [
        "test fixture: products comment",
        "comment on table {schema}.products is 'Products, by the test fixture.'",
      ]),
    );
    expect((await db.owner.query("select count(*)::int as n from app_private.lagging_tenant_schemas()")).rows[0].n).toBe(0);
    expect((await db.owner.query("select distinct version from app_private.tenant_schemas")).rows).toEqual([{ version: rows[0].version }]);
  });

  it("lets a step that fails for one tenant leave that tenant behind, named with PostgreSQL's message, and migrates the rest", async () => {
    const victim = `client_${tenants[3].tenant_id}`;
    const {
      rows: [{ version }],
    } = await db.owner.query("select app_private.add_tenant_ddl_step('test fixture: broken for one', $1) as version", [
      `do $$ begin if '{schema}' = '${victim}' then raise exception 'boom' using errcode = '23514'; end if; end $$;`,
    ]);
    const { migrated, failures } = await applyPendingTenantSteps(db.owner, 100);
    expect(migrated).toBe(50); // 49 of the first 50 and the late shop
    expect(failures).toEqual([
      { schema: victim, tenantId: tenants[3].tenant_id, failure: `step ${version} "test fixture: broken for one": boom [23514]` },
    ]);
    const lagging = (await db.owner.query("select * from app_private.lagging_tenant_schemas()")).rows;
    expect(lagging).toEqual([
      expect.objectContaining({
        tenant_id: tenants[3].tenant_id,
        schema_name: victim,
        version: version - 1,
        missing: ["test fixture: broken for one"],
        failure: failures[0].failure,
      }),
    ]);
    await expectPgError(
      db.owner.query("select app_private.assert_tenant_available($1)", [tenants[3].tenant_id]),
      "SFMNT",
      /under maintenance/,
    );
  });

  it("reports progress with a rate and an estimate, at most once a second and at the end", () => {
    expect(progressLine({ done: 50, failed: 1, total: 200, elapsedMs: 2000 })).toBe(
      "tenant schemas: 50/200 (1 failed), 25/s, about 6 s left",
    );
    const lines: string[] = [];
    const report = progressEverySecond((line) => lines.push(line));
    for (const [done, elapsedMs] of [
      [1, 10],
      [2, 500],
      [3, 1100],
      [4, 1200],
    ])
      report({ done: done, failed: 0, total: 4, elapsedMs: elapsedMs });
    expect(lines.map((line) => line.split(",")[0])).toEqual(["tenant schemas: 1/4", "tenant schemas: 3/4", "tenant schemas: 4/4"]);
  });
});

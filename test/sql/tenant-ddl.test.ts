import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyPendingTenantSteps, progressEverySecond, progressLine } from "../../src/db/tenant-migrations.ts";
import { asSession, createTestDatabase, expectPgError, registerTenant, userSession, type Claims, type TestDatabase } from "../helpers/db.ts";
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

const GTIN_STEP = "alter table {schema}.products add column if not exists gtin varchar(14) check (gtin ~ '^[0-9]{8,14}$');"
  + " comment on column {schema}.products.gtin is 'Global trade item number (barcode).';"
  + " grant insert (gtin), update (gtin) on {schema}.products to stoflow_user;";

describe("tenant DDL steps", () => {
  it("passes the structure check for 50 fresh tenants", async () => {
    expect(await drift()).toEqual([]);
  });

  it("applies an appended step to the template at once and to every tenant in batches", async () => {
    const { rows } = await db.owner.query("select app_private.add_tenant_ddl_step('products.gtin', $1) as version", [GTIN_STEP]);
    const version = rows[0].version;
    expect(version).toBe(baseVersion + 1);

    const behind = await drift();
    expect(new Set(behind.map((d) => d.schema_name)).size).toBe(50);
    expect(behind).toContainEqual({
      schema_name: `client_${tenants[0].tenant_id}`,
      difference: "missing",
      object: "column products.gtin character varying(14)",
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
      c.query("insert into products (sku, title, price, gtin) values ('G', 'Barcoded', 5, '12345678')"));
    expect((await applyPendingTenantSteps(db.owner, 7)).migrated).toBe(0);
  });

  it("gives a tenant registered after the step the same structure", async () => {
    await registerTenant(db.app, "Late Shop", "late@ddl.test");
    expect(await drift()).toEqual([]);
  });

  it("names the schema and the difference when one tenant drifts", async () => {
    const victim = `client_${tenants[17].tenant_id}`;
    await db.owner.query(`alter table ${victim}.products add column secret_notes text`);
    await db.owner.query(`drop policy own_tenant on ${victim}.ai_generations_log`);
    const found = await drift();
    expect(found.map((d) => d.schema_name)).toEqual([victim, victim]);
    expect(found).toContainEqual({ schema_name: victim, difference: "unexpected", object: "column products.secret_notes text" });
    expect(found).toContainEqual(expect.objectContaining({
      schema_name: victim, difference: "missing", object: expect.stringMatching(/^policy ai_generations_log\.own_tenant ALL/),
    }));
  });

  it("is idempotent for the same step; a step not yet committed may change and runs again everywhere; a committed one never", async () => {
    const again = await db.owner.query("select app_private.add_tenant_ddl_step('products.gtin', $1) as version", [GTIN_STEP]);
    expect(again.rows[0].version).toBe(baseVersion + 1);
    const edited = GTIN_STEP.replace("Global trade item number (barcode).", "GTIN-8 to GTIN-14 barcode.");
    const changed = await db.owner.query("select app_private.add_tenant_ddl_step('products.gtin', $1) as version", [edited]);
    expect(changed.rows[0].version).toBe(baseVersion + 1);
    const { rows } = await db.owner.query(`
      select count(*)::int as n from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
       where c.relname = 'products' and a.attname = 'gtin' and col_description(c.oid, a.attnum) = 'GTIN-8 to GTIN-14 barcode.'`);
    expect(rows[0].n).toBe(tenants.length + 2); // every tenant, the late shop and the template
    await expectPgError(
      db.owner.query("select app_private.add_tenant_ddl_step('products.gtin', $1)", [edited.replace(" if not exists", "")]),
      "22023", /changed, but its new SQL failed on tenant_template: column "gtin" of relation "products" already exists/,
    );
    await expectPgError(
      db.owner.query("select app_private.add_tenant_ddl_step('tenant tables', 'select 1')"),
      "22023", /"tenant tables" is committed and cannot change; add a new step instead/,
    );
  });

  it("lets a step that fails for one tenant leave that tenant behind, named with PostgreSQL's message, and migrates the rest", async () => {
    const victim = `client_${tenants[3].tenant_id}`;
    await db.owner.query("select app_private.add_tenant_ddl_step('broken for one', $1)", [
      `do $$ begin if '{schema}' = '${victim}' then raise exception 'boom' using errcode = '23514'; end if; end $$;`,
    ]);
    const { migrated, failures } = await applyPendingTenantSteps(db.owner, 100);
    expect(migrated).toBe(50); // 49 of the first 50 and the late shop
    expect(failures).toEqual([{ schema: victim, tenantId: tenants[3].tenant_id, failure: `step ${baseVersion + 2} "broken for one": boom [23514]` }]);
    const lagging = (await db.owner.query("select * from app_private.lagging_tenant_schemas()")).rows;
    expect(lagging).toEqual([expect.objectContaining({
      tenant_id: tenants[3].tenant_id, schema_name: victim, version: baseVersion + 1, missing: ["broken for one"], failure: failures[0]!.failure,
    })]);
    await expectPgError(db.owner.query("select app_private.assert_tenant_available($1)", [tenants[3].tenant_id]), "SFMNT", /under maintenance/);
  });

  it("reports progress with a rate and an estimate, at most once a second and at the end", () => {
    expect(progressLine({ done: 50, failed: 1, total: 200, elapsedMs: 2000 })).toBe("tenant schemas: 50/200 (1 failed), 25/s, about 6 s left");
    const lines: string[] = [];
    const report = progressEverySecond((line) => lines.push(line));
    for (const [done, elapsedMs] of [[1, 10], [2, 500], [3, 1100], [4, 1200]]) report({ done: done!, failed: 0, total: 4, elapsedMs: elapsedMs! });
    expect(lines.map((line) => line.split(",")[0])).toEqual(["tenant schemas: 1/4", "tenant schemas: 3/4", "tenant schemas: 4/4"]);
  });
});

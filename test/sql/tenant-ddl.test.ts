import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyPendingTenantSteps } from "../../src/db/tenant-migrations.ts";
import { asSession, createTestDatabase, expectPgError, registerTenant, sessionOf, type Claims, type TestDatabase } from "../helpers/db.ts";

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

const GTIN_STEP = "alter table {schema}.products add column gtin varchar(14) check (gtin ~ '^[0-9]{8,14}$');"
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
    const migrated = await applyPendingTenantSteps(db.owner, 7, (n) => progress.push(n));
    expect(migrated).toBe(50);
    expect(progress).toEqual([7, 14, 21, 28, 35, 42, 49, 50]);
    expect(await drift()).toEqual([]);
    const versions = await db.owner.query("select distinct version from app_private.tenant_schemas");
    expect(versions.rows).toEqual([{ version }]);

    const last = tenants[49];
    await asSession(db.app, sessionOf(last, "stoflow_user"), (c) =>
      c.query("insert into products (sku, title, price, gtin) values ('G', 'Barcoded', 5, '12345678')"));
    expect(await applyPendingTenantSteps(db.owner, 7)).toBe(0);
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

  it("is idempotent for the same step and refuses to change a step's SQL", async () => {
    const again = await db.owner.query("select app_private.add_tenant_ddl_step('products.gtin', $1) as version", [GTIN_STEP]);
    expect(again.rows[0].version).toBe(baseVersion + 1);
    await expectPgError(
      db.owner.query("select app_private.add_tenant_ddl_step('products.gtin', 'select 1')"),
      "22023", /already exists with other SQL/,
    );
  });

  it("rolls back a batch whose step fails, leaving those tenants at their old version", async () => {
    await db.owner.query("select app_private.add_tenant_ddl_step('broken for one', $1)", [
      "do $$ begin if '{schema}' = 'client_" + tenants[3].tenant_id + "' then raise exception 'boom'; end if; end $$;",
    ]);
    await expect(applyPendingTenantSteps(db.owner, 100)).rejects.toThrow(/boom/);
    const { rows } = await db.owner.query("select count(*)::int as n from app_private.tenant_schemas where version = $1", [baseVersion + 2]);
    expect(rows[0].n).toBe(1); // only the template
  });
});

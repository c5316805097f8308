import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asSession, createTestDatabase, registerTenant, userSession, type Claims, type TestDatabase } from "../helpers/db.ts";
import { PG_ROLE_OF } from "../../src/auth/roles.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

/** Puts a tenant schema back just before a DDL step, then lets the migration apply it again. */
async function replayFromStep(schema: string, stepName: string) {
  await db.owner.query(
    `update app_private.tenant_schemas
    set version = (select version - 1 from app_private.tenant_ddl_steps where name = $2) where schema_name = $1`,
    [schema, stepName],
  );
  await db.owner.query("select app_private.apply_tenant_ddl($1)", [schema]);
}

const ledgerOf = async (tenantId: number) =>
  (
    await db.owner.query(
      `select
    (select array_agg(platform::text order by platform) from app_private.platform_usage where tenant_id = $1) as platforms,
    (select credits_used from app_private.ai_credit_usage where tenant_id = $1 and month = app_private.usage_month()) as credits`,
      [tenantId],
    )
  ).rows[0];

let shops = 0;
/** A standard tenant of its own: the shop and its schema. */
async function newShop(): Promise<{ shop: Claims; schema: string }> {
  const shop = await registerTenant(db.app, `Old Shop ${++shops}`, `old${shops}@existing.test`, "standard");
  return { shop, schema: `client_${shop.tenant_id}` };
}

describe("the migration of existing tenants", () => {
  it("backfills the usage ledger from the history a tenant already has, and re-running never lowers it", async () => {
    const { shop, schema } = await newShop();
    await asSession(db.app, userSession(shop, PG_ROLE_OF.user), async (c) => {
      await c.query("insert into products (sku, title, price) values ('A', 'a', 1)");
      await c.query("insert into publications_history (sku, platform, action) values ('A', 'vinted', 'create'), ('A', 'ebay', 'create')");
      await c.query(`insert into ai_generations_log (sku, platform, model, generated_text, was_cached)
                     values ('A', 'vinted', 'm', 't', false), ('A', 'vinted', 'm', 't', false), ('A', 'vinted', 'm', 't', true)`);
    });
    expect(await ledgerOf(shop.tenant_id)).toEqual({ platforms: ["ebay", "vinted"], credits: 2 });
    // The state before the ledger: the history only.
    await db.owner.query("delete from app_private.platform_usage where tenant_id = $1", [shop.tenant_id]);
    await db.owner.query("delete from app_private.ai_credit_usage where tenant_id = $1", [shop.tenant_id]);
    await replayFromStep(schema, "usage ledger backfill");
    expect(await ledgerOf(shop.tenant_id)).toEqual({ platforms: ["ebay", "vinted"], credits: 2 });

    await db.owner.query(`delete from ${schema}.products`); // cascades to the history and the AI log
    await replayFromStep(schema, "usage ledger backfill");
    expect(await ledgerOf(shop.tenant_id)).toEqual({ platforms: ["ebay", "vinted"], credits: 2 });
    expect((await db.owner.query("select * from app_private.tenant_structure_drift()")).rows).toEqual([]);
  });

  it("repairs NaN amounts stored before money had to be a finite number", async () => {
    const { schema } = await newShop();
    // The constraints as they were: NaN passed `>= 0`.
    await db.owner.query(`
      alter table ${schema}.products drop constraint products_price_check, add constraint products_price_check check (price >= 0),
        drop constraint products_cost_price_check, add constraint products_cost_price_check check (cost_price >= 0);
      alter table ${schema}.vinted_products drop constraint vinted_products_price_vinted_check, add constraint vinted_products_price_vinted_check check (price_vinted >= 0);
      alter table ${schema}.ai_generations_log drop constraint ai_generations_log_cost_check, add constraint ai_generations_log_cost_check check (cost >= 0)`);
    await db.owner.query(
      `insert into ${schema}.products (sku, title, price, cost_price) values ('NAN', 'n', 'NaN', 'NaN'), ('OK', 'o', 12, 'NaN')`,
    );
    await db.owner.query(`insert into ${schema}.vinted_products (sku, price_vinted) values ('OK', 'NaN')`);
    await db.owner.query(
      `insert into ${schema}.ai_generations_log (sku, platform, model, generated_text, cost, was_cached) values ('OK', 'vinted', 'm', 't', 'NaN', true)`,
    );

    await replayFromStep(schema, "money is a finite number");
    const { rows } = await db.owner
      .query(`select p.sku, p.price::text, p.cost_price, p.is_active, v.price_vinted, (select array_agg(cost) from ${schema}.ai_generations_log a where a.sku = p.sku) as costs
      from ${schema}.products p left join ${schema}.vinted_products v using (sku) order by p.sku`);
    expect(rows).toEqual([
      { sku: "NAN", price: "0.00", cost_price: null, is_active: false, price_vinted: null, costs: null },
      { sku: "OK", price: "12.00", cost_price: null, is_active: true, price_vinted: null, costs: [null] },
    ]);
    expect((await db.owner.query("select * from app_private.tenant_structure_drift()")).rows).toEqual([]);
    await expect(db.owner.query(`update ${schema}.products set price = 'NaN' where sku = 'OK'`)).rejects.toMatchObject({ code: "23514" });
  });
});

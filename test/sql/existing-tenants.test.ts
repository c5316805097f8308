import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asSession, createTestDatabase, registerTenant, sessionOf, type Claims, type TestDatabase } from "../helpers/db.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

/** Puts a tenant schema back just before a DDL step, then lets the migration apply it again. */
async function replayFromStep(schema: string, stepName: string) {
  await db.owner.query(`update app_private.tenant_schemas
    set version = (select version - 1 from app_private.tenant_ddl_steps where name = $2) where schema_name = $1`, [schema, stepName]);
  await db.owner.query("select app_private.apply_tenant_ddl($1)", [schema]);
}

const ledgerOf = async (tenantId: number) => (await db.owner.query(`select
    (select array_agg(platform::text order by platform) from app_private.platform_usage where tenant_id = $1) as platforms,
    (select credits_used from app_private.ai_credit_usage where tenant_id = $1 and month = app_private.usage_month()) as credits`, [tenantId])).rows[0];

let shops = 0;
/** A standard tenant of its own: the shop and its schema. */
async function newShop(): Promise<{ shop: Claims; schema: string }> {
  const shop = await registerTenant(db.app, `Old Shop ${++shops}`, `old${shops}@existing.test`, "standard");
  return { shop, schema: `client_${shop.tenant_id}` };
}

describe("the migration of existing tenants", () => {
  it("backfills the usage ledger from the history a tenant already has, and re-running never lowers it", async () => {
    const { shop, schema } = await newShop();
    await asSession(db.app, sessionOf(shop, "stoflow_user"), async (c) => {
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
});

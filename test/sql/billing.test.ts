import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTransaction } from "../../src/db/transaction.ts";
import {
  asSession,
  createTestDatabase,
  expectPgError,
  registerTenant,
  userSession,
  type Claims,
  type TestDatabase,
} from "../helpers/db.ts";

/**
 * The billing boundary in SQL: trials on registration and upgrade, the billing clock (its time a
 * parameter: the test sets the clock), and the grants that keep paid status out of the API roles.
 */
let db: TestDatabase;
let shops = 0;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

const newShop = (tier: string | null = null) => registerTenant(db.app, `Billing Shop ${++shops}`, `billing${shops}@shops.test`, tier);

async function currentPeriod(tenantId: number) {
  const { rows } = await db.owner.query(
    `select tier, status::text, trial_ends_at, trial_reminded_at, (trial_ends_at - start_date) as trial, payment_method
       from subscriptions where tenant_id = $1 and end_date is null`,
    [tenantId],
  );
  return rows[0];
}

const tenantTier = async (tenantId: number) =>
  (await db.owner.query("select subscription_tier, subscription_status::text, max_products from tenants where id = $1", [tenantId]))
    .rows[0];

/** changeSubscriptionTier as the tenant's admin, with the gateway's billing settings. */
function changeTier(shop: Claims, tier: string, settings: Record<string, string> = {}) {
  return runTransaction(
    db.app,
    { role: "stoflow_admin", "jwt.claims.tenant_id": String(shop.tenant_id), "jwt.claims.user_id": String(shop.sub), ...settings },
    async (client) => (await client.query("select tier, status::text from public.change_subscription_tier($1)", [tier])).rows[0],
  );
}

/** Runs the billing clock `days` from now, as the job worker does (role stoflow_worker). */
function clockIn(days: number, reminderDays = 3): Promise<number> {
  return runTransaction(db.app, { role: "stoflow_worker" }, async (client) => {
    const { rows } = await client.query(
      "select app_private.run_billing_clock(now() + make_interval(days => $1), make_interval(days => $2)) as changed",
      [days, reminderDays],
    );
    return rows[0].changed as number;
  });
}

const billingMails = async (tenantId: number) =>
  (
    await db.owner.query(
      "select j.payload->>'kind' as kind, j.payload->>'email' as email from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'billing_email' and j.payload->>'email' = (select email from tenants where id = $1) order by j.id",
      [tenantId],
    )
  ).rows;

describe("paid tiers start as a trial", () => {
  it("registers on a paid tier as trialing for TRIAL_DAYS (14 unless the gateway says otherwise), with the tier's limits", async () => {
    const shop = await newShop("premium");
    expect(await currentPeriod(shop.tenant_id)).toMatchObject({ tier: "premium", status: "trialing", trial: { days: 14 } });
    expect(await tenantTier(shop.tenant_id)).toEqual({ subscription_tier: "premium", subscription_status: "active", max_products: null });
  });

  it("registers on starter when no trial is open (TRIAL_DAYS=0), and on the paid tier at once when upgrades are immediate", async () => {
    const register = (settings: Record<string, string>) =>
      runTransaction(db.app, { role: "stoflow_auth", ...settings }, async (client) => {
        const { rows } = await client.query("select (c).tenant_id from app_private.register_tenant($1, $2, $3, 'enterprise') c", [
          `Settings Shop ${++shops}`,
          `settings${shops}@shops.test`,
          "$2b$04$abcdefghijklmnopqrstuuJ7Wv0Q9S1mQ3bJm3vKx7s5d6Jc9eBTq",
        ]);
        return rows[0].tenant_id as number;
      });
    expect(await currentPeriod(await register({ "stoflow.trial_days": "0" }))).toMatchObject({ tier: "starter", status: "active" });
    expect(await currentPeriod(await register({ "stoflow.billing": "immediate" }))).toMatchObject({ tier: "enterprise", status: "active" });
  });

  it("upgrades as a trial once per paid tier; without one, PAYMENT_REQUIRED (SFPAY); downgrades stay self-service", async () => {
    const shop = await newShop();
    expect(await changeTier(shop, "standard")).toEqual({ tier: "standard", status: "trialing" });
    expect(await changeTier(shop, "premium")).toEqual({ tier: "premium", status: "trialing" });
    // Down to standard keeps the premium trial's state: it grants nothing new.
    expect(await changeTier(shop, "standard")).toEqual({ tier: "standard", status: "trialing" });
    expect(await changeTier(shop, "starter")).toEqual({ tier: "starter", status: "active" });
    await expectPgError(changeTier(shop, "standard"), "SFPAY", /standard tier needs a payment/);
    await expectPgError(changeTier(shop, "business", { "stoflow.trial_days": "0" }), "SFPAY");
    expect(await changeTier(shop, "business", { "stoflow.billing": "immediate" })).toEqual({ tier: "business", status: "active" });
    expect(await currentPeriod(shop.tenant_id)).toMatchObject({ tier: "business", status: "active" });
  });
});

describe("the billing clock (time set in SQL)", () => {
  it("mails the admins before the end (once), then at the end falls back to starter, keeping usage above starter's limits", async () => {
    const shop = await newShop("standard");
    // 60 active products on the standard trial: above starter's 50.
    await asSession(db.app, userSession(shop), async (client: pg.PoolClient) => {
      await client.query(
        `insert into client_${shop.tenant_id}.products (sku, title, price) select 'SKU-' || i, 'Item ' || i, 10 from generate_series(1, 60) i`,
      );
    });
    expect(await clockIn(5)).toBe(0);
    expect(await billingMails(shop.tenant_id)).toEqual([]);
    expect(await clockIn(11)).toBeGreaterThanOrEqual(1);
    expect(await clockIn(12)).toBe(0); // reminded once
    expect((await billingMails(shop.tenant_id)).map((m) => m.kind)).toEqual(["trial_ending"]);
    expect(await currentPeriod(shop.tenant_id)).toMatchObject({ status: "trialing", trial_reminded_at: expect.any(Date) });

    expect(await clockIn(15)).toBeGreaterThanOrEqual(1);
    expect(await currentPeriod(shop.tenant_id)).toMatchObject({ tier: "starter", status: "active" });
    expect(await tenantTier(shop.tenant_id)).toEqual({ subscription_tier: "starter", subscription_status: "active", max_products: 50 });
    expect((await billingMails(shop.tenant_id)).map((m) => m.kind)).toEqual(["trial_ending", "trial_ended"]);
    const { rows: history } = await db.owner.query(
      "select tier, status::text, end_date = trial_ends_at as ended_at_trial_end from subscriptions where tenant_id = $1 order by id",
      [shop.tenant_id],
    );
    expect(history).toEqual([
      { tier: "standard", status: "expired", ended_at_trial_end: true },
      { tier: "starter", status: "active", ended_at_trial_end: null },
    ]);
    // Nothing deleted; a new product is refused, archiving and editing still work.
    const products = `client_${shop.tenant_id}.products`;
    expect((await db.owner.query(`select count(*)::int as n from ${products} where is_active`)).rows[0].n).toBe(60);
    await expectPgError(
      asSession(db.app, userSession(shop), (client) =>
        client.query(`insert into ${products} (sku, title, price) values ('NEW', 'New', 1)`),
      ),
      "SFLIM",
      /starter tier allows 50 active products and 60 are in use/,
    );
    await asSession(db.app, userSession(shop), (client) => client.query(`update ${products} set price = 12 where sku = 'SKU-1'`));
    expect(await clockIn(30)).toBe(0); // mailed at the end once
    expect((await billingMails(shop.tenant_id)).map((m) => m.kind)).toEqual(["trial_ending", "trial_ended"]);
  });
});

describe("suspensions at a fallback to starter", () => {
  it("lifts billing's (a suspended period cancelled), keeps staff's (a tenant suspended by hand whose trial ends)", async () => {
    const [billing, staff] = [await newShop("premium"), await newShop("premium")];
    await db.owner.query(
      "update subscriptions set status = 'suspended', cancels_at = now() - interval '1 minute' where tenant_id = $1 and end_date is null",
      [billing.tenant_id],
    );
    await db.owner.query("update tenants set subscription_status = 'suspended' where id = any($1)", [[billing.tenant_id, staff.tenant_id]]);
    expect(await clockIn(15)).toBeGreaterThanOrEqual(2);
    expect(await tenantTier(billing.tenant_id)).toMatchObject({ subscription_tier: "starter", subscription_status: "active" });
    expect(await tenantTier(staff.tenant_id)).toMatchObject({ subscription_tier: "starter", subscription_status: "suspended" });
    const { rows } = await db.owner.query("select status::text from subscriptions where tenant_id = $1 order by id", [billing.tenant_id]);
    expect(rows.map((r) => r.status)).toEqual(["cancelled", "active"]);
  });
});

describe("who may write paid status", () => {
  const API_ROLES = [
    "stoflow_anonymous",
    "stoflow_viewer",
    "stoflow_user",
    "stoflow_admin",
    "stoflow_auth",
    "stoflow_worker",
    "stoflow_billing",
  ];

  it("no stoflow_* role may insert or update subscriptions, nor the tier and status of tenants", async () => {
    const { rows } = await db.owner.query(
      `select r.rolname, c.table_name, c.column_name, p.privilege
         from pg_roles r
         cross join (values ('subscriptions', 'status'), ('subscriptions', 'tier'), ('subscriptions', 'trial_ends_at'),
                            ('subscriptions', 'last_payment_date'), ('subscriptions', 'next_billing_date'),
                            ('tenants', 'subscription_tier'), ('tenants', 'subscription_status')) c(table_name, column_name)
         cross join (values ('INSERT'), ('UPDATE')) p(privilege)
        where r.rolname like 'stoflow\\_%' and r.rolname <> 'stoflow_owner'
          and has_column_privilege(r.rolname, 'public.' || c.table_name, c.column_name, p.privilege)`,
    );
    expect(rows).toEqual([]);
    const { rows: roles } = await db.owner.query("select rolname from pg_roles where rolname = any($1) order by 1", [API_ROLES]);
    expect(roles).toHaveLength(API_ROLES.length);
  });

  it("only stoflow_billing applies billing events, only the worker runs the clock, no API role sets a tier", async () => {
    const { rows } = await db.owner.query(
      `select r.rolname, f.name from unnest($1::text[]) r(rolname)
         cross join (values ('app_private.apply_billing_event(text, text, timestamptz, jsonb, interval)'),
                            ('app_private.run_billing_clock(timestamptz, interval)'),
                            ('app_private.set_tenant_tier(int, text)'),
                            ('app_private.switch_period(int, text, text, text, timestamptz, timestamptz)'),
                            ('app_private.billing_paid(int, text, timestamptz, timestamptz)')) f(name)
        where has_function_privilege(r.rolname, f.name, 'EXECUTE') order by 1, 2`,
      [API_ROLES],
    );
    expect(rows).toEqual([
      { rolname: "stoflow_billing", name: "app_private.apply_billing_event(text, text, timestamptz, jsonb, interval)" },
      { rolname: "stoflow_worker", name: "app_private.run_billing_clock(timestamptz, interval)" },
    ]);
  });

  it("the operator's set_tenant_tier makes a tier active at once, and refuses an unknown tenant or tier", async () => {
    const shop = await newShop();
    await db.owner.query("select app_private.set_tenant_tier($1, 'enterprise')", [shop.tenant_id]);
    expect(await currentPeriod(shop.tenant_id)).toMatchObject({ tier: "enterprise", status: "active", payment_method: "operator" });
    await expectPgError(db.owner.query("select app_private.set_tenant_tier(0, 'enterprise')"), "P0002");
    await expectPgError(db.owner.query("select app_private.set_tenant_tier($1, 'gold')", [shop.tenant_id]), "22023");
  });
});

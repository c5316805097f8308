import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, expectPgError, registerTenant, type TestDatabase } from "../helpers/db.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

async function tenantSchemas(): Promise<string[]> {
  const { rows } = await db.owner.query("select nspname from pg_namespace where nspname ~ '^client_' order by 1");
  return rows.map((r) => r.nspname);
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.owner.query(`select count(*)::int as n from (${sql}) x`, params);
  return rows[0].n;
}

describe("register_tenant", () => {
  it("creates the tenant, its schema with exactly the tenant objects, the admin and the subscription", async () => {
    const claims = await registerTenant(db.app, "Acme Vintage", "owner@acme.test");
    expect(claims).toEqual({ sub: expect.any(Number), tenant_id: expect.any(Number), role: "admin" });
    const schema = `client_${claims.tenant_id}`;

    const { rows: tenant } = await db.owner.query("select * from tenants where id = $1", [claims.tenant_id]);
    expect(tenant[0]).toMatchObject({
      name: "Acme Vintage",
      email: "owner@acme.test",
      subscription_tier: "starter",
      subscription_status: "active",
      max_products: 50,
      max_platforms: 2,
      ai_credits_monthly: 0,
      is_active: true,
      schema_name: schema,
    });
    const { rows: user } = await db.owner.query("select * from users where id = $1", [claims.sub]);
    expect(user[0]).toMatchObject({ tenant_id: claims.tenant_id, email: "owner@acme.test", role: "admin", full_name: "Acme Vintage" });
    expect(await count("select 1 from app_private.user_secrets where user_id = $1", [claims.sub])).toBe(1);
    const { rows: subs } = await db.owner.query("select tier, price_monthly, status, end_date from subscriptions where tenant_id = $1", [
      claims.tenant_id,
    ]);
    expect(subs).toEqual([{ tier: "starter", price_monthly: "0.00", status: "active", end_date: null }]);

    const { rows: tables } = await db.owner.query(
      "select relname, relkind, relrowsecurity from pg_class where relnamespace = $1::regnamespace and relkind in ('r','v','m','f','p') order by 1",
      [schema],
    );
    expect(tables).toEqual(
      ["ai_generations_log", "products", "publications_history", "vinted_products"].map((relname) => ({
        relname,
        relkind: "r",
        relrowsecurity: true,
      })),
    );
    expect(await count("select 1 from pg_policies where schemaname = $1", [schema])).toBe(4);
    expect(await count("select * from app_private.tenant_structure_drift()")).toBe(0);
    const { rows: version } = await db.owner.query(
      "select t.version = tpl.version as current from app_private.tenant_schemas t, app_private.tenant_schemas tpl where t.schema_name = $1 and tpl.schema_name = 'tenant_template'",
      [schema],
    );
    expect(version[0].current).toBe(true);
  });

  it("copies the limits of the chosen tier", async () => {
    const claims = await registerTenant(db.app, "Standard Co", "std@acme.test", "standard");
    const { rows } = await db.owner.query("select max_products, max_platforms, ai_credits_monthly from tenants where id = $1", [
      claims.tenant_id,
    ]);
    expect(rows[0]).toEqual({ max_products: 200, max_platforms: 5, ai_credits_monthly: 100 });
    const premium = await registerTenant(db.app, "Premium Co", "premium@acme.test", "premium");
    const { rows: unlimited } = await db.owner.query("select max_products, max_platforms from tenants where id = $1", [premium.tenant_id]);
    expect(unlimited[0]).toEqual({ max_products: null, max_platforms: null });
  });

  it("refuses an unknown tier and creates nothing", async () => {
    const before = await tenantSchemas();
    await expectPgError(registerTenant(db.app, "Bad Tier", "tier@acme.test", "platinum"), "22023", /Unknown subscription tier/);
    expect(await tenantSchemas()).toEqual(before);
    expect(await count("select 1 from tenants where email = 'tier@acme.test'")).toBe(0);
  });

  it("leaves nothing behind when it fails half-way, at the user insert", async () => {
    const existing = await registerTenant(db.app, "Team Co", "team@acme.test");
    await db.owner.query("insert into users (tenant_id, email, role) values ($1, 'member@acme.test', 'user')", [existing.tenant_id]);
    const schemasBefore = await tenantSchemas();
    const tenantsBefore = await count("select 1 from tenants");

    // The tenant row and its schema are created before the user insert hits the duplicate e-mail.
    await expectPgError(registerTenant(db.app, "Member Co", "MEMBER@acme.test"), "23505", /^Email already registered$/);

    expect(await count("select 1 from tenants")).toBe(tenantsBefore);
    expect(await count("select 1 from tenants where name = 'Member Co'")).toBe(0);
    expect(await tenantSchemas()).toEqual(schemasBefore);
    expect(await count("select 1 from users where lower(email) = 'member@acme.test'")).toBe(1);
    expect(await count("select 1 from app_private.tenant_schemas where tenant_id is not null")).toBe(schemasBefore.length);
  });

  it("treats e-mails case-insensitively", async () => {
    await registerTenant(db.app, "Case Co", "Case@Acme.test");
    await expectPgError(registerTenant(db.app, "Case Co 2", "case@ACME.TEST"), "23505", /Email already registered/);
  });

  it("lets exactly one of 20 concurrent registrations with one e-mail through, leaving no orphan schema", async () => {
    const schemasBefore = await tenantSchemas();
    const attempts = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => registerTenant(db.app, `Racer ${i}`, "race@acme.test")));
    const won = attempts.filter((a) => a.status === "fulfilled");
    const lost = attempts.filter((a): a is PromiseRejectedResult => a.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost.map((a) => [a.reason.code, a.reason.message])).toEqual(
      Array.from({ length: 19 }, () => ["23505", "Email already registered"]),
    );
    expect(await count("select 1 from tenants where email = 'race@acme.test'")).toBe(1);
    const schemasAfter = await tenantSchemas();
    expect(schemasAfter.length).toBe(schemasBefore.length + 1);
    expect(
      await count(
        "select 1 from pg_namespace n where nspname ~ '^client_' and not exists (select 1 from tenants t where t.schema_name = n.nspname)",
      ),
    ).toBe(0);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  asSession,
  createTestDatabase,
  expectPgError,
  registerTenant,
  userSession,
  type Claims,
  type TestDatabase,
} from "../helpers/db.ts";
import { ANONYMOUS_PG_ROLE, API_PG_ROLES, PG_ROLE_OF } from "../../src/auth/roles.ts";

let db: TestDatabase;
let a: Claims;
let b: Claims;

beforeAll(async () => {
  db = await createTestDatabase();
  a = await registerTenant(db.app, "Tenant A", "a@iso.test");
  b = await registerTenant(db.app, "Tenant B", "b@iso.test");
  for (const [claims, title] of [
    [a, "A's shirt"],
    [b, "B's shirt"],
  ] as const) {
    await asSession(db.app, userSession(claims, PG_ROLE_OF.user), (c) =>
      c.query("insert into products (sku, title, price) values ('SKU-1', $1, 10)", [title]),
    );
  }
});
afterAll(() => db.close());

const schemaOf = (claims: Claims) => `client_${claims.tenant_id}`;

describe("tenant isolation", () => {
  it("gives each tenant its own rows for the same SKU through search_path", async () => {
    const titles = await Promise.all(
      [a, b].map((claims) => asSession(db.app, userSession(claims), (c) => c.query("select sku, title from products"))),
    );
    expect(titles.map((r) => r.rows)).toEqual([[{ sku: "SKU-1", title: "A's shirt" }], [{ sku: "SKU-1", title: "B's shirt" }]]);
  });

  it("shows tenant A nothing of tenant B even when B's schema is named explicitly", async () => {
    await asSession(db.app, userSession(a), async (c) => {
      for (const table of ["products", "vinted_products", "publications_history", "ai_generations_log"]) {
        const { rows } = await c.query(`select count(*)::int as n from ${schemaOf(b)}.${table}`);
        expect(rows[0].n, table).toBe(0);
      }
      const updated = await c.query(`update ${schemaOf(b)}.products set title = 'hacked'`);
      const deleted = await c.query(`delete from ${schemaOf(b)}.products`);
      expect([updated.rowCount, deleted.rowCount]).toEqual([0, 0]);
    });
    await expectPgError(
      asSession(db.app, userSession(a), (c) =>
        c.query(`insert into ${schemaOf(b)}.products (sku, title, price) values ('X', 'planted', 1)`),
      ),
      "42501",
      /row-level security/,
    );
    const { rows } = await db.owner.query(`select title from ${schemaOf(b)}.products`);
    expect(rows).toEqual([{ title: "B's shirt" }]);
  });

  it("shows tenant A nothing of tenant B in the public tables", async () => {
    await asSession(db.app, userSession(a), async (c) => {
      expect((await c.query("select id from tenants")).rows).toEqual([{ id: a.tenant_id }]);
      expect((await c.query("select tenant_id from users")).rows).toEqual([{ tenant_id: a.tenant_id }]);
      expect((await c.query("select distinct tenant_id from subscriptions")).rows).toEqual([{ tenant_id: a.tenant_id }]);
    });
  });

  it("does not let claims for one tenant with another's search_path reach the other's rows", async () => {
    const forged = { role: PG_ROLE_OF.user, tenantId: a.tenant_id, userId: a.sub };
    await asSession(db.app, forged, async (c) => {
      await c.query(`set local search_path = ${schemaOf(b)}, public`);
      expect((await c.query("select count(*)::int as n from products")).rows[0].n).toBe(0);
    });
  });

  it("refuses every write to a viewer", async () => {
    const viewer = userSession(a, PG_ROLE_OF.viewer);
    expect((await asSession(db.app, viewer, (c) => c.query("select sku from products"))).rows).toHaveLength(1);
    for (const sql of [
      "insert into products (sku, title, price) values ('V', 'viewer', 1)",
      "update products set title = 'viewer'",
      "delete from products",
      "insert into vinted_products (sku) values ('SKU-1')",
    ]) {
      await expectPgError(
        asSession(db.app, viewer, (c) => c.query(sql)),
        "42501",
      );
    }
  });

  it("gives anonymous no tenant data and no private rows", async () => {
    const anonymous = { role: ANONYMOUS_PG_ROLE };
    await expectPgError(
      asSession(db.app, anonymous, (c) => c.query(`select * from ${schemaOf(a)}.products`)),
      "42501",
    );
    await expectPgError(
      asSession(db.app, anonymous, (c) => c.query("select * from tenants")),
      "42501",
    );
    await expectPgError(
      asSession(db.app, anonymous, (c) => c.query("select * from users")),
      "42501",
    );
    const tiers = await asSession(db.app, anonymous, (c) => c.query("select id from tiers order by rank"));
    expect(tiers.rows.map((r) => r.id)).toEqual(["starter", "standard", "premium", "business", "enterprise"]);
  });

  it("gives anonymous nothing when it carries a tenant's claims", async () => {
    const anonymousWithClaims = { ...userSession(a), role: ANONYMOUS_PG_ROLE };
    await expectPgError(
      asSession(db.app, anonymousWithClaims, (c) => c.query(`select * from ${schemaOf(a)}.products`)),
      "42501",
    );
  });

  it("keeps password hashes out of reach of every API role", async () => {
    for (const role of API_PG_ROLES) {
      const session = { ...userSession(a), role };
      await expectPgError(
        asSession(db.app, session, (c) => c.query("select * from app_private.user_secrets")),
        "42501",
      );
      await expectPgError(
        asSession(db.app, session, (c) => c.query("select * from app_private.login_candidate('a@iso.test')")),
        "42501",
      );
      await expectPgError(
        asSession(db.app, session, (c) => c.query("select app_private.register_tenant('x', 'x@x.test', 'h')")),
        "42501",
      );
    }
    const { rows } = await db.owner.query(
      "select column_name from information_schema.columns where table_schema = 'public' and column_name ~ 'password|hash'",
    );
    expect(rows).toEqual([]);
  });

  it("lets the authenticator do nothing without switching role", async () => {
    await expectPgError(db.app.query("select * from public.tenants"), "42501");
    await expectPgError(db.app.query(`select * from ${schemaOf(a)}.products`), "42501");
    // Its one privilege: checking a session it holds the id of (one round trip per request).
    await expectPgError(db.app.query("select * from app_private.login_candidate('a@iso.test')"), "42501");
    await expectPgError(db.app.query("select * from app_private.user_secrets"), "42501");
    await expectPgError(
      db.app.query("select app_private.require_live_session($1, $2, 'admin', gen_random_uuid())", [a.sub, a.tenant_id]),
      "SFSES",
    );
  });
});

describe("privileges in the catalog", () => {
  it("grants nothing to PUBLIC on our schemas, tables, sequences and functions", async () => {
    const { rows } = await db.owner.query(`
      select 'schema ' || nspname as object from pg_namespace, aclexplode(nspacl) acl
       where acl.grantee = 0 and (nspname in ('public', 'app_private', 'tenant_template') or nspname ~ '^client_')
      union all
      select 'relation ' || c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace, aclexplode(c.relacl) acl
       where acl.grantee = 0 and (n.nspname in ('public', 'app_private', 'tenant_template') or n.nspname ~ '^client_')
      union all
      select 'function ' || p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where (n.nspname in ('public', 'app_private') or n.nspname ~ '^client_')
         and (p.proacl is null or exists (select 1 from aclexplode(p.proacl) acl where acl.grantee = 0))`);
    expect(rows).toEqual([]);
  });

  it("enables row-level security on every table", async () => {
    const { rows } = await db.owner.query(`
      select c.oid::regclass::text as table from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind = 'r' and not c.relrowsecurity
         and (n.nspname in ('public', 'app_private', 'tenant_template') or n.nspname ~ '^client_')`);
    expect(rows).toEqual([]);
  });

  it("documents every table, column and function with a comment", async () => {
    const { rows } = await db.owner.query(`
      select 'table ' || c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind = 'r' and n.nspname in ('public', 'app_private', 'tenant_template')
         and obj_description(c.oid, 'pg_class') is null
      union all
      select 'column ' || c.oid::regclass || '.' || a.attname from pg_class c
        join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid
       where c.relkind = 'r' and n.nspname in ('public', 'app_private', 'tenant_template')
         and a.attnum > 0 and not a.attisdropped and col_description(c.oid, a.attnum) is null
      union all
      select 'function ' || p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname in ('public', 'app_private') and obj_description(p.oid, 'pg_proc') is null`);
    expect(rows.map((r) => Object.values(r)[0])).toEqual([]);
  });
});

describe("reference data", () => {
  it("loads the Vinted platform mappings, idempotently", async () => {
    const { loadSqlFiles } = await import("../../src/cli/load-sql.ts");
    await loadSqlFiles(db.ownerUrl, ["sql/platform-mappings.vinted.sql", "sql/platform-mappings.vinted.sql"]);
    const { rows } = await db.owner.query(
      "select mapping_type, count(*)::int as n from platform_mappings where platform = 'vinted' group by 1 order by 1",
    );
    expect(rows).toEqual([
      { mapping_type: "brand", n: 10 },
      { mapping_type: "category", n: 8 },
      { mapping_type: "color", n: 10 },
      { mapping_type: "condition", n: 5 },
      { mapping_type: "material", n: 4 },
      { mapping_type: "size", n: 5 },
    ]);
    const signedIn = await asSession(db.app, userSession(a), (c) => c.query("select count(*)::int as n from platform_mappings"));
    expect(signedIn.rows[0].n).toBe(42);
  });
});

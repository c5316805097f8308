import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, graphqlOk, http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

let gw: TestGateway;
let a: Awaited<ReturnType<typeof signUp>>;
let b: Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  // A small pool so that requests of both tenants share connections (and their prepared statements).
  gw = await startTestGateway({ DATABASE_POOL_SIZE: "3" });
  a = await signUp(gw.url, "Tenant A", "standard");
  b = await signUp(gw.url, "Tenant B", "standard");
});
afterAll(() => gw.close());

const CREATE = `mutation($p: ProductInput!) { createProduct(input: { product: $p }) { product { sku title price } } }`;
const LIST = "{ products(orderBy: SKU_ASC) { totalCount nodes { sku title } } }";
const READ = "query($sku: String!) { product(sku: $sku) { sku title } }";
const UPDATE = `mutation($sku: String!, $title: String!) { updateProduct(input: { sku: $sku, patch: { title: $title } }) { product { sku title } } }`;
const DELETE = "mutation($sku: String!) { deleteProduct(input: { sku: $sku }) { product { sku } } }";

const ok = (query: string, variables: Record<string, unknown> = {}, token?: string) => graphqlOk(gw.url, query, variables, token);

describe("two tenants, one SKU", () => {
  it("each creates, lists, reads, updates and deletes only its own, over interleaved concurrent requests", async () => {
    const tenants = [
      { name: "A", token: a.access_token },
      { name: "B", token: b.access_token },
    ];
    const skus = Array.from({ length: 10 }, (_, i) => `SKU-${i}`);
    // Every SKU exists in both tenants; requests of A and B alternate and run concurrently.
    await Promise.all(
      skus.flatMap((sku) => tenants.map((t) => ok(CREATE, { p: { sku, title: `${t.name} ${sku}`, price: "10.00" } }, t.token))),
    );

    const rounds = await Promise.all(
      Array.from({ length: 30 }, (_, i) => {
        const t = tenants[i % 2];
        return ok(LIST, {}, t.token).then((data) => ({ t, data }));
      }),
    );
    for (const { t, data } of rounds) {
      expect(data.products.totalCount).toBe(10);
      expect(data.products.nodes.every((n: { title: string }) => n.title.startsWith(`${t.name} `))).toBe(true);
    }

    await Promise.all(tenants.map((t) => ok(UPDATE, { sku: "SKU-3", title: `${t.name} renamed` }, t.token)));
    await ok(DELETE, { sku: "SKU-4" }, a.access_token);

    const [readA, readB] = await Promise.all(tenants.map((t) => ok(READ, { sku: "SKU-3" }, t.token)));
    expect(readA.product).toEqual({ sku: "SKU-3", title: "A renamed" });
    expect(readB.product).toEqual({ sku: "SKU-3", title: "B renamed" });
    expect((await ok(READ, { sku: "SKU-4" }, a.access_token)).product).toBeNull();
    expect((await ok(READ, { sku: "SKU-4" }, b.access_token)).product).toEqual({ sku: "SKU-4", title: "B SKU-4" });

    const { rows } = await gw.db.owner.query(
      `select (select count(*) from client_${a.tenant.id}.products)::int as a, (select count(*) from client_${b.tenant.id}.products)::int as b`,
    );
    expect(rows[0]).toEqual({ a: 9, b: 10 });
  });

  it("refuses a duplicate SKU within a tenant with DUPLICATE", async () => {
    const res = await graphql(gw.url, CREATE, { p: { sku: "SKU-0", title: "again", price: "1" } }, a.access_token);
    expect(res.body.errors?.[0]?.extensions).toEqual({ code: "DUPLICATE", field: "sku" });
    expect(JSON.stringify(res.body)).not.toMatch(/Key \(|detail/);
  });
});

describe("relations, filters and aggregates", () => {
  it("follows product to its Vinted row, history and AI log", async () => {
    await ok(
      `mutation {
      createVintedProduct(input: { vintedProduct: { sku: "SKU-1", status: published, priceVinted: "12.00" } }) { vintedProduct { sku } }
      createPublicationsHistory(input: { publicationsHistory: { sku: "SKU-1", platform: "vinted", action: create, status: success } }) { publicationsHistory { rowId } }
      createAiGenerationsLog(input: { aiGenerationsLog: { sku: "SKU-1", platform: "vinted", model: "gpt-4-turbo", generatedText: "Lovely shirt" } }) { aiGenerationsLog { rowId } }
    }`,
      {},
      a.access_token,
    );
    const data = await ok(
      `{ product(sku: "SKU-1") {
      vintedProduct { status priceVinted }
      publicationsHistories { totalCount nodes { platform action status } }
      aiGenerationsLogs { nodes { model generatedText wasCached } }
    } }`,
      {},
      a.access_token,
    );
    expect(data.product).toEqual({
      vintedProduct: { status: "published", priceVinted: "12.00" },
      publicationsHistories: { totalCount: 1, nodes: [{ platform: "vinted", action: "create", status: "success" }] },
      aiGenerationsLogs: { nodes: [{ model: "gpt-4-turbo", generatedText: "Lovely shirt", wasCached: false }] },
    });
    const other = await ok(`{ vintedProducts { totalCount } publicationsHistories { totalCount } }`, {}, b.access_token);
    expect(other).toEqual({ vintedProducts: { totalCount: 0 }, publicationsHistories: { totalCount: 0 } });
  });

  it("filters, paginates and aggregates a tenant's products", async () => {
    await ok(
      `mutation { updateProduct(input: { sku: "SKU-5", patch: { price: "99.50", brand: "Nike" } }) { product { sku } } }`,
      {},
      a.access_token,
    );
    const data = await ok(
      `{
      cheap: products(filter: { price: { lessThan: "50" } }) { totalCount }
      nike: products(filter: { brand: { equalTo: "Nike" } }) { nodes { sku price } }
      page: products(first: 3, orderBy: SKU_ASC) { totalCount pageInfo { hasNextPage endCursor } nodes { sku } }
      stats: products { aggregates { sum { price } max { price } distinctCount { brand } } }
    }`,
      {},
      a.access_token,
    );
    expect(data.cheap.totalCount).toBe(8);
    expect(data.nike.nodes).toEqual([{ sku: "SKU-5", price: "99.50" }]);
    expect(data.page).toMatchObject({
      totalCount: 9,
      pageInfo: { hasNextPage: true },
      nodes: [{ sku: "SKU-0" }, { sku: "SKU-1" }, { sku: "SKU-2" }],
    });
    expect(data.stats.aggregates).toEqual({ sum: { price: "179.50" }, max: { price: "99.50" }, distinctCount: { brand: "1" } });
    const next = await ok(
      "query($c: Cursor) { products(first: 3, after: $c, orderBy: SKU_ASC) { nodes { sku } } }",
      { c: data.page.pageInfo.endCursor },
      a.access_token,
    );
    expect(next.products.nodes).toEqual([{ sku: "SKU-3" }, { sku: "SKU-5" }, { sku: "SKU-6" }]);
  });
});

describe("roles and context", () => {
  it("lets a viewer read but not write (FORBIDDEN)", async () => {
    const { rows } = await gw.db.owner.query(
      "insert into users (tenant_id, email, role) values ($1, 'viewer-a@example.test', 'viewer') returning id",
      [a.tenant.id],
    );
    await gw.db.owner.query("insert into app_private.user_secrets (user_id, password_hash) values ($1, $2)", [
      rows[0].id,
      (await import("bcrypt")).default.hashSync("viewer password", 4),
    ]);
    const login = await http(gw.url, "POST", "/api/auth/login", { body: { email: "viewer-a@example.test", password: "viewer password" } });
    const viewer = login.body.access_token;
    expect((await ok(LIST, {}, viewer)).products.totalCount).toBe(9);
    const write = await graphql(gw.url, CREATE, { p: { sku: "V-1", title: "viewer", price: "1" } }, viewer);
    expect(write.body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });

  it("answers anonymous tenant queries with NO_TENANT_CONTEXT", async () => {
    const res = await graphql(gw.url, LIST);
    expect(res.body.errors?.[0]).toMatchObject({ extensions: { code: "NO_TENANT_CONTEXT" } });
    const write = await graphql(gw.url, CREATE, { p: { sku: "ANON", title: "anon", price: "1" } });
    expect(write.body.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^No tenant context/),
      extensions: { code: "NO_TENANT_CONTEXT" },
    });
  });

  it("shows a tenant only its own tenant, users and subscription periods, and tiers to everyone", async () => {
    const data = await ok(
      "{ tenants { nodes { name } } users { nodes { email } } subscriptionPeriods { nodes { tier } } }",
      {},
      b.access_token,
    );
    expect(data).toEqual({
      tenants: { nodes: [{ name: "Tenant B" }] },
      users: { nodes: [{ email: b.email }] },
      subscriptionPeriods: { nodes: [{ tier: "standard" }] },
    });
    const tiers = await ok("{ tiers(orderBy: RANK_ASC) { nodes { rowId maxProducts } } }");
    expect(tiers.tiers.nodes.map((t: { rowId: string }) => t.rowId)).toEqual(["starter", "standard", "premium", "business", "enterprise"]);
  });

  it("keeps masked errors masked, without SQL or stack", async () => {
    const res = await graphql(
      gw.url,
      `
        {
          products(filter: { price: { lessThan: "not a number" } }) {
            totalCount
          }
        }
      `,
      {},
      a.access_token,
    );
    const text = JSON.stringify(res.body);
    expect(res.body.errors?.length).toBeGreaterThan(0);
    expect(text).not.toMatch(/select |at .*\.js:\d+|stack/i);
  });
});

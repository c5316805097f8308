import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, graphqlErrorCode, graphqlOk, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "cross-tenant");

let gw: TestGateway;
let a: Awaited<ReturnType<typeof signUp>>;
let b: Awaited<ReturnType<typeof signUp>>;
let bProduct: { id: string; sku: string };
let bCursor: string;
let bSnapshot: unknown;

const B_ONLY = "B-SECRET-001";
const snapshotOfB = async () =>
  (
    await gw.db.owner.query(
      `select jsonb_build_object('products', (select jsonb_agg(p order by sku) from client_${b.tenant.id}.products p),
     'vinted', (select jsonb_agg(v) from client_${b.tenant.id}.vinted_products v),
     'users', (select jsonb_agg(u order by id) from users u where tenant_id = ${b.tenant.id})) as s`,
    )
  ).rows[0].s;

beforeAll(async () => {
  gw = await startTestGateway();
  a = await signUp(gw.url, "Attacker Shop", "standard");
  b = await signUp(gw.url, "Victim Shop", "standard");
  await graphqlOk(
    gw.url,
    `mutation { createProduct(input: { product: { sku: "SHARED", title: "A's", price: "1" } }) { product { sku } } }`,
    {},
    a.access_token,
  );
  for (const sku of ["SHARED", B_ONLY]) {
    await graphqlOk(
      gw.url,
      `mutation($s: String!) { createProduct(input: { product: { sku: $s, title: "Victim secret", price: "999", brand: "Secret" } }) { product { sku } } }`,
      { s: sku },
      b.access_token,
    );
  }
  await graphqlOk(
    gw.url,
    `mutation { createVintedProduct(input: { vintedProduct: { sku: "B-SECRET-001", status: published } }) { vintedProduct { sku } } }`,
    {},
    b.access_token,
  );
  const data = await graphqlOk(gw.url, `{ products(first: 1, orderBy: SKU_ASC) { edges { cursor node { id sku } } } }`, {}, b.access_token);
  bProduct = data.products.edges[0].node;
  bCursor = data.products.edges[0].cursor;
  bSnapshot = await snapshotOfB();
});
afterAll(async () => {
  expect(await snapshotOfB()).toEqual(bSnapshot);
  await gw.close();
});

describe("tenant A's token against tenant B's data", () => {
  it("reads nothing of B by key, list, filter, aggregate or relation", async () => {
    const data = await graphqlOk(
      gw.url,
      `query($sku: String!) {
      byKey: product(sku: $sku) { title }
      list: products { totalCount nodes { sku title } }
      filtered: products(filter: { or: [{ title: { equalTo: "Victim secret" } }, { brand: { equalTo: "Secret" } }] }) { totalCount }
      agg: products { aggregates { sum { price } max { price } } }
      vinted: vintedProducts { totalCount }
      shared: product(sku: "SHARED") { title vintedProduct { status } }
    }`,
      { sku: B_ONLY },
      a.access_token,
    );
    expect(data).toEqual({
      byKey: null,
      list: { totalCount: 1, nodes: [{ sku: "SHARED", title: "A's" }] },
      filtered: { totalCount: 0 },
      agg: { aggregates: { sum: { price: "1.00" }, max: { price: "1.00" } } },
      vinted: { totalCount: 0 },
      shared: { title: "A's", vintedProduct: null },
    });
    record("read another tenant's products by key, list, filter, aggregate, relation", 6, "only the attacker's own rows");
  });

  it("gets nothing from B's node id, and cannot change or delete by it", async () => {
    const read = await graphqlOk(
      gw.url,
      `query($id: ID!) { node(id: $id) { id } productById(id: $id) { sku } }`,
      { id: bProduct.id },
      a.access_token,
    );
    expect(read).toEqual({ node: null, productById: null });
    expect(
      await graphqlErrorCode(
        gw.url,
        `mutation($id: ID!) { updateProductById(input: { id: $id, patch: { title: "pwned" } }) { product { sku } } }`,
        { id: bProduct.id },
        a.access_token,
      ),
    ).toBe("NOT_FOUND");
    expect(
      await graphqlErrorCode(
        gw.url,
        `mutation($id: ID!) { deleteProductById(input: { id: $id }) { product { sku } } }`,
        { id: bProduct.id },
        a.access_token,
      ),
    ).toBe("NOT_FOUND");
    record(
      "B's node id in node, productById, updateProductById, deleteProductById",
      4,
      "null for reads, NOT_FOUND for writes; B unchanged",
    );
  });

  it("gets only its own rows when paging with B's cursor", async () => {
    const data = await graphqlOk(
      gw.url,
      `query($c: Cursor) { products(after: $c, orderBy: SKU_ASC) { nodes { title } } }`,
      { c: bCursor },
      a.access_token,
    );
    expect(data.products.nodes.every((n: { title: string }) => n.title === "A's")).toBe(true);
    const crafted = Buffer.from(JSON.stringify(["natural", 0])).toString("base64");
    const res = await graphql(
      gw.url,
      `
        query ($c: Cursor) {
          products(after: $c) {
            nodes {
              title
            }
          }
        }
      `,
      { c: crafted },
      a.access_token,
    );
    expect(res.body.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^Invalid 'after' cursor/),
      extensions: { code: "INVALID_INPUT" },
    });
    record("B's cursor and crafted cursors in pagination", 2, "only the attacker's own rows, or an error");
  });

  it("cannot write into B by mutation, relation or public tables", async () => {
    expect(
      await graphqlErrorCode(
        gw.url,
        `mutation { createVintedProduct(input: { vintedProduct: { sku: "B-SECRET-001" } }) { vintedProduct { sku } } }`,
        {},
        a.access_token,
      ),
    ).toBe("INVALID_INPUT");
    expect(
      await graphqlErrorCode(
        gw.url,
        `mutation { updateProduct(input: { sku: "B-SECRET-001", patch: { price: "0" } }) { product { sku } } }`,
        {},
        a.access_token,
      ),
    ).toBe("NOT_FOUND");
    expect(
      await graphqlErrorCode(gw.url, `mutation { deleteProduct(input: { sku: "B-SECRET-001" }) { product { sku } } }`, {}, a.access_token),
    ).toBe("NOT_FOUND");
    const people = await graphqlOk(
      gw.url,
      `query($u: Int!, $t: Int!) { user(rowId: $u) { email } tenant(rowId: $t) { name } users { totalCount } subscriptionPeriods { totalCount } }`,
      { u: b.user.id, t: b.tenant.id },
      a.access_token,
    );
    expect(people).toEqual({ user: null, tenant: null, users: { totalCount: 1 }, subscriptionPeriods: { totalCount: 1 } });
    record(
      "write B's rows by key, reference B's SKU from a new row, read B's users and tenant",
      5,
      "FK error, null or NOT_FOUND; B unchanged",
    );
  });

  it("stores SQL-looking strings as plain text in every text input", async () => {
    const payloads = [
      "'; drop table products; --",
      '" or 1=1 --',
      "$$; select pg_sleep(10); $$",
      "client_2.products",
      "') union select password_hash from app_private.user_secrets --",
      "%_\\",
      "\u202e<script>alert(1)</script>",
    ];
    for (const [i, text] of payloads.entries()) {
      const input = {
        sku: `SQL-${i}`,
        price: "1",
        title: text,
        description: text,
        brand: text,
        category: text,
        size: text.slice(0, 50),
        color: text,
        material: text,
        condition: text.slice(0, 50),
        imageUrl1: text,
      };
      await graphqlOk(
        gw.url,
        `mutation($p: ProductInput!) { createProduct(input: { product: $p }) { product { sku } } }`,
        { p: input },
        a.access_token,
      );
      const back = await graphqlOk(
        gw.url,
        `query($s: String!) { product(sku: $s) { title description brand imageUrl1 } }`,
        { s: `SQL-${i}` },
        a.access_token,
      );
      expect(back.product).toEqual({ title: text, description: text, brand: text, imageUrl1: text });
      const found = await graphqlOk(
        gw.url,
        `query($t: String!) { products(filter: { title: { equalTo: $t } }) { totalCount } }`,
        { t: text },
        a.access_token,
      );
      expect(found.products.totalCount).toBe(1);
    }
    for (const text of payloads) {
      const res = await graphql(
        gw.url,
        `
          mutation ($e: String!, $p: String!) {
            login(input: { email: $e, password: $p }) {
              accessToken
            }
          }
        `,
        { e: text, p: text },
        undefined,
      );
      expect(res.body.errors?.[0]?.extensions?.code).toMatch(/INVALID_CREDENTIALS|INVALID_INPUT/);
    }
    expect(
      (await gw.db.owner.query("select count(*)::int as n from pg_tables where tablename = 'products'")).rows[0].n,
    ).toBeGreaterThanOrEqual(3);
    record(
      "SQL-looking strings in every product text field, in filters and in login",
      payloads.length * 4,
      "stored and matched verbatim; no SQL ran",
    );
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "abuse limits");

let gw: TestGateway;
let token: string;
beforeAll(async () => {
  gw = await startTestGateway();
  token = (await signUp(gw.url, "Abuse Shop", "standard")).access_token;
});
afterAll(() => gw.close());

async function refused(query: string, variables: Record<string, unknown> = {}) {
  const res = await graphql(gw.url, query, variables, token);
  return { status: res.status, code: res.body.errors?.[0]?.extensions?.code, message: res.body.errors?.[0]?.message };
}

describe("abuse limits answer a clear 4xx, fast", () => {
  it("refuses bodies over 100 kB on /graphql and 16 kB on the REST routes", async () => {
    const big = await http(gw.url, "POST", "/graphql", { body: { query: `{ tiers { totalCount } } # ${"x".repeat(120_000)}` }, token });
    expect(big.status).toBe(413);
    const rest = await http(gw.url, "POST", "/api/auth/register", {
      body: { name: "x".repeat(20_000), email: "a@b.cd", password: "long enough" },
    });
    expect(rest.status).toBe(413);
    record("oversized request bodies (GraphQL, REST)", 2, "413");
  });

  it("refuses queries nested deeper than 12 levels", async () => {
    let selection = "sku";
    for (let i = 0; i < 8; i++) selection = `vintedProduct { product { ${selection} } }`;
    const res = await refused(`{ products(first: 1) { nodes { ${selection} } } }`);
    expect(res).toMatchObject({ status: 400, message: "Queries may nest at most 12 levels" });
    const viaFragments =
      await refused(`fragment A on Product { vintedProduct { product { ...B } } } fragment B on Product { vintedProduct { product { ...C } } }
      fragment C on Product { vintedProduct { product { vintedProduct { product { vintedProduct { product { sku } } } } } } }
      { products(first: 1) { nodes { ...A } } }`);
    expect(viaFragments.status).toBe(400);
    record("deeply nested queries, directly and through fragments", 2, "400 QUERY_TOO_DEEP");
  });

  it("refuses pages larger than 100, given inline or by variable", async () => {
    expect(await refused("{ products(first: 1000) { nodes { sku } } }")).toMatchObject({
      status: 400,
      message: "first and last must be between 0 and 100",
    });
    expect((await refused("query($n: Int) { products(last: $n) { nodes { sku } } }", { n: 5000 })).status).toBe(400);
    expect((await refused("{ products(first: -1) { nodes { sku } } }")).status).toBe(400);
    const ok = await graphql(gw.url, "query($n: Int) { products(first: $n) { nodes { sku } } }", { n: 100 }, token);
    expect(ok.body.errors).toBeUndefined();
    record("page sizes over 100 or negative (inline and variables)", 3, "400 PAGE_SIZE_TOO_LARGE");
  });

  it("refuses queries whose lists of lists could return too much", async () => {
    const res = await refused(
      `{ products(first: 100) { nodes { publicationsHistories(first: 100) { nodes { sku aiGenerations: product { aiGenerationsLogs(first: 100) { nodes { generatedText } } } } } } } }`,
    );
    expect(res).toMatchObject({
      status: 400,
      message: expect.stringMatching(/^This query could return about \d+ values; the limit is 50000/),
    });
    const unbounded = await refused(
      `{ products { nodes { publicationsHistories { nodes { product { aiGenerationsLogs { nodes { generatedText } } } } } } } }`,
    );
    expect(unbounded.status).toBe(400);
    record("costly nested lists (explicit and default page sizes)", 2, "400 QUERY_TOO_COSTLY");
  });

  it("bounds batched operations: aliases at the root and JSON arrays of operations", async () => {
    const aliases = Array.from(
      { length: 50 },
      (_, i) => `p${i}: createProduct(input: { product: { sku: "B${i}", title: "x", price: "1" } }) { product { sku } }`,
    );
    const res = await refused(`mutation { ${aliases.join("\n")} }`);
    expect(res).toMatchObject({ status: 400, message: "An operation may have at most 20 root fields" });
    const { rows } = await gw.db.owner.query(
      `select count(*)::int as n from client_${(await graphql(gw.url, "{ currentSession { tenant { rowId } } }", {}, token)).body.data.currentSession.tenant.rowId}.products`,
    );
    expect(rows[0].n).toBe(0);
    const batch = await http(gw.url, "POST", "/graphql", {
      body: Array.from({ length: 100 }, () => ({ query: "{ tiers { totalCount } }" })),
      token,
    });
    expect(batch.status).toBeGreaterThanOrEqual(400);
    expect(batch.status).toBeLessThan(500);
    record("50 aliased mutations in one operation; a JSON array of 100 operations", 2, "400, nothing written");
  });

  it("answers malformed GraphQL requests with 4xx, not 5xx", async () => {
    const bodies: unknown[] = [
      "{not json",
      { query: 42 },
      { query: "{ products { nodes { sku } }" },
      { query: "{ __schema { types { name } } }", variables: [] },
      {},
    ];
    for (const body of bodies) {
      const res = await http(gw.url, "POST", "/graphql", { body: typeof body === "string" ? body : body, token });
      expect(res.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    record("malformed GraphQL bodies (bad JSON, wrong types, syntax errors)", bodies.length, "4xx");
  });
});

import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { getIntrospectionQuery } from "postgraphile/graphql";
import { startGateway } from "../../src/server.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, graphqlOk, http, signUp, startTestGateway, configOver, type TestGateway } from "../helpers/gateway.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "hostile documents");

let gw: TestGateway;
let token: string;
beforeAll(async () => {
  gw = await startTestGateway({ GRAPHQL_DEFAULT_PAGE_SIZE: "5" });
  token = (await signUp(gw.url, "Hostile Docs Shop", "standard")).access_token;
});
afterAll(() => gw.close());

/** Status, code and message of a GraphQL answer. */
async function answer(query: string, variables: Record<string, unknown> = {}, as: string | undefined = token, operationName?: string) {
  const res = await fetch(`${gw.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(as ? { authorization: `Bearer ${as}` } : {}) },
    body: JSON.stringify({ query, variables, ...(operationName ? { operationName } : {}) }),
  });
  const body = (await res.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] };
  return { status: res.status, code: body.errors?.[0]?.extensions?.code, message: body.errors?.[0]?.message, data: body.data };
}

/** `fragment F<n> on Query { <spread F<n-1> twice> }`, F0 a field: 2^n fields if expanded naively. */
function doublingFragments(n: number, spread: (previous: string, i: number) => string): string {
  const fragments = [`fragment F0 on Query { tiers { totalCount } }`];
  for (let i = 1; i <= n; i++) fragments.push(`fragment F${i} on Query { ${spread(`F${i - 1}`, i)} }`);
  return `{ ...F${n} }\n${fragments.join("\n")}`;
}

describe("responses bounded in bytes", () => {
  it("weighs long texts in the cost, returns a page of groups at most, and refuses a description over 10,000 characters", async () => {
    const shop = await signUp(gw.url, "Wide Texts Shop", "standard");
    await gw.db.owner.query(`insert into client_${shop.tenant.id}.products (sku, title, price, description)
      select 'SKU-' || i, 'Item ' || i, 1, repeat('d', 9000) from generate_series(1, 120) i`);
    const descriptions = (aliases: number) =>
      `{ ${Array.from({ length: aliases }, (_, i) => `a${i}: products(first: 100) { nodes { description } }`).join(" ")} }`;
    const one = await answer(descriptions(1), {}, shop.access_token);
    expect(one.status).toBe(200);
    // Ten pages of descriptions (up to 10,000 characters each) weigh 10 × 100 × 100: refused, in parallel too.
    const many = await Promise.all(Array.from({ length: 10 }, () => answer(descriptions(10), {}, shop.access_token)));
    for (const res of many) expect(res).toMatchObject({ status: 400, code: "QUERY_TOO_COSTLY" });
    const grouped = await answer("{ products { groupedAggregates(groupBy: [TITLE]) { keys } } }", {}, shop.access_token);
    expect((grouped.data as { products: { groupedAggregates: unknown[] } }).products.groupedAggregates).toHaveLength(5);
    // With the default page of 100 groups, grouping stays usable (keys are not weighed as texts).
    const pageOf100 = await startGateway(gw.db.appUrl, configOver(gw.db));
    try {
      const res = await graphql(
        pageOf100.url,
        "{ products { groupedAggregates(groupBy: [STOCK_QUANTITY]) { keys } } }",
        {},
        shop.access_token,
      );
      expect(res.status).toBe(200);
      expect(res.body.data.products.groupedAggregates).toEqual([{ keys: ["1"] }]);
    } finally {
      await pageOf100.close();
    }
    const tooLong = await answer(
      `mutation($d: String) { createProduct(input: { product: { sku: "LONG", title: "Long", price: "1", description: $d } }) { product { sku } } }`,
      { d: "x".repeat(10_001) },
      shop.access_token,
    );
    expect(tooLong.code).toBe("INVALID_INPUT");
    expect((await gw.db.owner.query(`select count(*)::int as n from client_${shop.tenant.id}.products where sku = 'LONG'`)).rows[0].n).toBe(
      0,
    );
    record(
      "ten aliased pages of 9,000-character descriptions (10 in parallel); groupedAggregates over 120 products; a 10,001-character description",
      12,
      "the pages refused (QUERY_TOO_COSTLY: a long text weighs per 100 characters), 5 groups (a page), the description INVALID_INPUT",
    );
  });
});

describe("introspection", () => {
  it("answers the standard introspection query of graphql-js (GraphiQL, codegen) with 200", async () => {
    for (const options of [
      { descriptions: true },
      { descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true },
    ]) {
      const res = await answer(getIntrospectionQuery(options), {}, undefined);
      expect(res.status, res.message).toBe(200);
      expect((res.data as { __schema: { types: unknown[] } }).__schema.types.length).toBeGreaterThan(100);
    }
    record("getIntrospectionQuery() with descriptions (and with every option), anonymous", 2, "200, the whole schema");
  });

  it("refuses introspection that re-reads the schema through nested types or aliases", async () => {
    const shapes = [
      "{ __schema { types { fields { type { fields { name } } } } } }",
      "{ __schema { types { fields { type { ofType { fields { type { name } } } } } } } }",
      "{ __schema { types { interfaces { possibleTypes { fields { name } } } } } }",
      "{ __schema { a: types { name } b: types { name } } }",
      "{ __schema { types { a: fields { name } b: fields { name } } } }",
      "{ a: __schema { types { name } } b: __schema { types { name } } }",
      "{ query { a: __schema { types { name } } } b: __schema { types { name } } }",
      "fragment T on __Type { fields { name } } { __schema { types { fields { type { ...T } } } } }",
    ];
    const answers = await Promise.all(shapes.map((q) => answer(q, {}, undefined)));
    for (const [i, res] of answers.entries()) expect(res, shapes[i]).toMatchObject({ status: 400, code: "QUERY_TOO_COSTLY" });
    record(
      "introspection re-entering types (type → fields → type …), aliased lists, __schema twice, via fragments",
      shapes.length,
      "400 QUERY_TOO_COSTLY",
    );
  });
});

describe("documents are measured before they are parsed into a cache or planned", () => {
  it("refuses a document of more tokens than the limit, before compiling it", async () => {
    const fields = Array.from({ length: 3000 }, (_, i) => `f${i}: __typename`).join(" ");
    const res = await answer(`{ ${fields} }`, {}, undefined);
    expect(res, res.message).toMatchObject({ status: 400, code: "QUERY_TOO_LARGE" });
    record("~100 kB document of 3,000 aliased fields", 1, "400 QUERY_TOO_LARGE");
  });

  it("measures doubling fragments in one pass, and refuses them before planning", async () => {
    const started = performance.now();
    // The planner spreads a fragment each time it appears: 2^40 fields for 40 short lines.
    const merged = await answer(doublingFragments(40, (f) => `...${f} ...${f}`));
    expect(merged).toMatchObject({ status: 400, code: "QUERY_TOO_COSTLY" });
    const aliased = await answer(doublingFragments(40, (f, i) => `a${i}: query { ...${f} } b${i}: query { ...${f} }`));
    expect(aliased.status, aliased.message).toBe(400);

    expect(["TOO_MANY_OPERATIONS", "TOO_MANY_ALIASES", "QUERY_TOO_COSTLY", "QUERY_TOO_DEEP"]).toContain(aliased.code);
    // Generous bound: expanding 2^40 fields would take days; a linear pass takes milliseconds.
    expect(performance.now() - started).toBeLessThan(10_000);
    const fine = await answer(doublingFragments(4, (f) => `...${f} ...${f}`));
    expect(fine, fine.message).toMatchObject({ status: 200, data: { tiers: { totalCount: 5 } } });
    record(
      "fragments spreading the previous one twice, 40 levels (2^40 fields), merged and aliased",
      2,
      "400 QUERY_TOO_COSTLY at once; 4 levels still served",
    );
  });

  it("counts aliases and root fields at every level, through `query` and mutation payloads", async () => {
    const tiers = (n: number) =>
      Array.from({ length: n }, (_, i) => `t${i}: tiers(filter: { id: { includes: "a" } }) { totalCount }`).join(" ");
    const nested = await answer(`{ query { ${tiers(25)} } }`);
    expect(nested).toMatchObject({ status: 400, code: "TOO_MANY_OPERATIONS" });
    const viaPayload = await answer(
      `mutation { logout { __typename } changeSubscriptionTier(input: { newTier: "premium" }) { query { ${tiers(25)} } } }`,
    );
    expect(viaPayload).toMatchObject({ status: 400, code: "TOO_MANY_OPERATIONS" });
    const deepAliases = await answer(`{ tiers { nodes { ${Array.from({ length: 40 }, (_, i) => `n${i}: id`).join(" ")} } } }`);
    expect(deepAliases).toMatchObject({ status: 400, code: "TOO_MANY_ALIASES" });
    record(
      "25 filtered aliases under `query`, and under a mutation payload's `query`; 40 aliases two levels down",
      3,
      "400 TOO_MANY_OPERATIONS / TOO_MANY_ALIASES",
    );
  });

  it("reads first, last and offset from literals, sent variables and variable defaults", async () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ["query($n: Int = 100000) { products(first: $n) { nodes { sku } } }", {}, "PAGE_SIZE_TOO_LARGE"],
      ["query($n: Int = 5) { products(first: $n) { nodes { sku } } }", { n: 100000 }, "PAGE_SIZE_TOO_LARGE"],
      ["query($n: Int = -1) { products(last: $n) { nodes { sku } } }", {}, "PAGE_SIZE_TOO_LARGE"],
      ["{ products(offset: -1) { nodes { sku } } }", {}, "INVALID_INPUT"],
      ["query($o: Int = -5) { products(offset: $o) { nodes { sku } } }", {}, "INVALID_INPUT"],
      ["fragment P on Query { products(first: $n) { nodes { sku } } } query($n: Int = 101) { ...P }", {}, "PAGE_SIZE_TOO_LARGE"],
    ];
    const answers = await Promise.all(cases.map(([q, v]) => answer(q, v)));
    for (const [i, res] of answers.entries()) expect(res, cases[i][0]).toMatchObject({ status: 400, code: cases[i][2] });
    record(
      "page sizes from variable defaults, sent variables, fragments; negative offsets",
      cases.length,
      "400 PAGE_SIZE_TOO_LARGE / INVALID_INPUT",
    );
  });

  it("refuses nested lists that could return too much, with or without first", async () => {
    const selfJoin =
      "{ products { nodes { aiGenerationsLogs { nodes { product { aiGenerationsLogs { nodes { product { publicationsHistories { nodes { id } } } } } } } } } } }";
    const big = await startTestGateway(); // the default page size of 100
    try {
      const user = await signUp(big.url, "Join Shop", "standard");
      const res = await graphql(big.url, selfJoin, {}, user.access_token);
      expect(res.status).toBe(400);
      expect(res.body.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COSTLY");
    } finally {
      await big.close();
    }
    record("self-join through product { aiGenerationsLogs } without first, three lists deep", 1, "400 QUERY_TOO_COSTLY");
  });
});

describe("lists return at most a page", () => {
  it("returns the default page when first and last are absent, null or unsent variables", async () => {
    for (let i = 0; i < 8; i++) {
      await graphqlOk(
        gw.url,
        `mutation($s: String!) { createProduct(input: { product: { sku: $s, title: "Page", price: "1" } }) { product { sku } } }`,
        { s: `PG-${i}` },
        token,
      );
    }
    const skus = async (query: string, variables: Record<string, unknown> = {}) =>
      ((await graphqlOk(gw.url, query, variables, token)).products.nodes as { sku: string }[]).map((n) => n.sku);
    expect(await skus("{ products(orderBy: SKU_ASC) { nodes { sku } } }")).toEqual(["PG-0", "PG-1", "PG-2", "PG-3", "PG-4"]);
    expect(await skus("{ products(first: null, orderBy: SKU_ASC) { nodes { sku } } }")).toHaveLength(5);
    expect(await skus("query($n: Int) { products(first: $n, orderBy: SKU_ASC) { nodes { sku } } }")).toHaveLength(5);
    expect(await skus("query($n: Int) { products(first: $n, orderBy: SKU_ASC) { nodes { sku } } }", { n: null })).toHaveLength(5);
    expect(await skus("{ products(first: 7, orderBy: SKU_ASC) { nodes { sku } } }")).toHaveLength(7);
    expect(await skus("{ products(last: 2, orderBy: SKU_ASC) { nodes { sku } } }")).toEqual(["PG-6", "PG-7"]);
    expect(await skus("{ products(first: null, last: 2, orderBy: SKU_ASC) { nodes { sku } } }")).toEqual(["PG-6", "PG-7"]);
    const page = await graphqlOk(gw.url, "{ products { totalCount pageInfo { hasNextPage } } }", {}, token);
    expect(page.products).toEqual({ totalCount: 8, pageInfo: { hasNextPage: true } });
    record("lists without first (absent, null, unsent variable) over more rows than a page", 5, "the default page, hasNextPage true");
  });
});

describe("one password hash per request", () => {
  it("refuses several password mutations in one request before any hashing", async () => {
    const logins = Array.from(
      { length: 20 },
      (_, i) => `l${i}: login(input: { email: "nobody${i}@x.test", password: "guess ${i}" }) { accessToken }`,
    ).join(" ");
    const registers = Array.from(
      { length: 2 },
      (_, i) => `r${i}: register(input: { name: "Amp ${i}", email: "amp${i}@x.test", password: "long password" }) { accessToken }`,
    ).join(" ");
    const shapes = [
      `mutation { ${logins} }`,
      `mutation { ${registers} }`,
      `fragment L on Mutation { login(input: { email: "a@b.cd", password: "guess one" }) { accessToken } } mutation { ...L x: login(input: { email: "a@b.cd", password: "guess two" }) { accessToken } }`,
      `mutation { login(input: { email: "a@b.cd", password: "guess one" }) { accessToken } changePassword(input: { currentPassword: "a", newPassword: "bbbbbbbbbb" }) { success } }`,
    ];
    const answers = await Promise.all(shapes.map((q) => answer(q, {}, undefined)));
    for (const res of answers) expect(res).toMatchObject({ status: 400, code: "TOO_MANY_OPERATIONS" });
    const { rows } = await gw.db.owner.query("select count(*)::int as n from users where email like 'amp%'");
    expect(rows[0].n).toBe(0);
    record(
      "20 aliased logins, 2 registrations, login twice through a fragment, login + changePassword in one request",
      shapes.length,
      "400 TOO_MANY_OPERATIONS, nothing hashed or written",
    );
  });
});

describe("client mistakes are answered as such", () => {
  it("answers subscriptions, bad LIKE patterns and nested inputs with 400 and a code", async () => {
    expect(await answer("subscription { currentSession { user { email } } }")).toMatchObject({
      status: 400,
      code: "UNSUPPORTED_OPERATION",
    });
    await graphqlOk(
      gw.url,
      `mutation { createProduct(input: { product: { sku: "LIKE-1", title: "abc def", price: "1" } }) { product { sku } } }`,
      {},
      token,
    );
    const like = await answer(`{ products(filter: { title: { like: "abc\\\\" } }) { totalCount } }`);
    expect(like.code, JSON.stringify(like)).toBe("INVALID_INPUT");
    let filter: unknown = { sku: { equalTo: "x" } };
    for (let i = 0; i < 2000; i++) filter = { and: [filter] };
    const deepVariable = await answer("query($f: ProductFilter) { products(filter: $f) { totalCount } }", { f: filter });
    expect(deepVariable).toMatchObject({ status: 400, code: "QUERY_TOO_DEEP" });
    const literal = `{ products(filter: ${"{ and: [".repeat(30)}{ sku: { equalTo: "x" } }${"] }".repeat(30)}) { totalCount } }`;
    expect(await answer(literal)).toMatchObject({ status: 400, code: "QUERY_TOO_DEEP" });
    const defaults = `query($f: ProductFilter = ${"{ and: [".repeat(30)}{ sku: { equalTo: "x" } }${"] }".repeat(30)}) { products(filter: $f) { totalCount } }`;
    expect(await answer(defaults)).toMatchObject({ status: 400, code: "QUERY_TOO_DEEP" });
    record(
      "subscription operation; LIKE pattern ending in a backslash; filters nested 2,000 deep (variables) and 30 deep (literal, default)",
      5,
      "400 UNSUPPORTED_OPERATION / INVALID_INPUT / QUERY_TOO_DEEP",
    );
  });

  it("checks the operation that runs, chosen by operationName or not", async () => {
    const two = "query Small { tiers { totalCount } } query Big($n: Int = 500) { products(first: $n) { nodes { sku } } }";
    expect((await answer(two, {}, token, "Small")).status).toBe(200);
    expect(await answer(two, {}, token, "Big")).toMatchObject({ status: 400, code: "PAGE_SIZE_TOO_LARGE" });
    expect((await answer(two, {}, token)).status).toBe(400);
    record("a costly operation beside a cheap one, with and without operationName", 3, "the costly one refused");
  });
});

describe("trusted documents (production option)", () => {
  it("runs only the documents of the app's build, by hash", async () => {
    const trusted = "query Tiers { tiers(orderBy: PRIMARY_KEY_ASC) { nodes { rowId } } }";
    const hash = createHash("sha256").update(trusted).digest("hex");
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "stoflow-trusted-")), "persisted-documents.json");
    fs.writeFileSync(file, JSON.stringify({ [hash]: trusted }));
    const server = await startGateway(gw.db.appUrl, configOver(gw.db, { GRAPHQL_TRUSTED_DOCUMENTS: file }));
    try {
      const byHash = await http(server.url, "POST", "/graphql", { body: { documentId: hash } });
      expect(byHash.status, JSON.stringify(byHash.body)).toBe(200);
      expect(byHash.body.data.tiers.nodes[0]).toEqual({ rowId: "business" });
      const apollo = await http(server.url, "POST", "/graphql", {
        body: { extensions: { persistedQuery: { version: 1, sha256Hash: hash } } },
      });
      expect(apollo.status).toBe(200);
      const refused = await Promise.all([
        http(server.url, "POST", "/graphql", { body: { query: trusted } }),
        http(server.url, "POST", "/graphql", { body: { query: "{ __schema { types { name } } }" } }),
        http(server.url, "POST", "/graphql", { body: { documentId: "0".repeat(64) } }),
        http(server.url, "POST", "/graphql", { body: { documentId: "../../etc/passwd" } }),
      ]);
      for (const res of refused) expect(res.status).toBe(400);
    } finally {
      await server.close();
    }
    record(
      "documents sent as text, introspection, unknown and path-like hashes to a server with trusted documents only",
      4,
      "400; the trusted document by hash 200",
    );
  });
});

describe("node ids", () => {
  const base64 = (text: string) => Buffer.from(text).toString("base64");
  const HOSTILE_IDS: Record<string, string> = {
    "an array nested 5,000 deep": base64(`${"[".repeat(5_000)}${"]".repeat(5_000)}`),
    "a key nested 5,000 deep": base64(`["Product", ${"[".repeat(5_000)}"SKU"${"]".repeat(5_000)}]`),
    "an object for a key": base64('["Product", {"sku": "SKU"}]'),
    "an object": base64('{"0": "Product", "1": "SKU"}'),
    "90 kB of one key": base64(`["Product", "${"x".repeat(65_000)}"]`),
    "not JSON": base64("Product:SKU"),
    "not base64": "!!! not an id !!!",
    "a type name alone": base64('["Product"]'),
    "a number for a type name": base64("[1, 2]"),
  };

  it("answers a malformed, huge or deeply nested node id null (reads) or NOT_FOUND (writes), never INTERNAL", async () => {
    for (const [shape, id] of Object.entries(HOSTILE_IDS)) {
      const read = await answer("query($id: ID!) { node(id: $id) { id } productById(id: $id) { sku } }", { id });
      expect(read, shape).toMatchObject({ status: 200, code: undefined, data: { node: null, productById: null } });
      const write = await answer(
        'mutation($id: ID!) { updateProductById(input: { id: $id, patch: { title: "x" } }) { product { sku } } }',
        { id },
      );
      expect(write.code, shape).toBe("NOT_FOUND");
      const anonymous = await answer("query($id: ID!) { node(id: $id) { id } }", { id }, undefined);
      expect(anonymous, shape).toMatchObject({ status: 200, code: undefined, data: { node: null } });
    }
    record(
      "node ids of hostile shapes (arrays nested 5,000 deep, nested keys, objects, 90 kB, not JSON, not base64), read signed in and anonymously, and written",
      Object.keys(HOSTILE_IDS).length * 3,
      "null for reads, NOT_FOUND for writes: decoded only when at most 1,000 characters and a flat array of a type name and key values",
    );
  });

  it("names a row only by the id the server gives: extra key values and other spellings of it name nothing, and delete nothing", async () => {
    // A sku whose id has "+" or "/" and padding, so that url-safe and unpadded spellings differ from it.
    const idOf = (key: string) => base64(JSON.stringify(["Product", key]));
    const sku = Array.from({ length: 200 }, (_, i) => `SKU?${i}~`).find((key) => /[+/]/.test(idOf(key)) && idOf(key).endsWith("="))!;
    const created = await answer(
      'mutation($sku: String!) { createProduct(input: { product: { sku: $sku, title: "Kept", price: "1" } }) { product { id } } }',
      { sku },
    );
    expect(created.code, created.message).toBeUndefined();
    const id = (created.data as { createProduct: { product: { id: string } } }).createProduct.product.id;
    expect(id).toBe(idOf(sku));
    const variants: Record<string, string> = {
      "extra key values": base64(JSON.stringify(["Product", sku, "x", "y"])),
      "one extra key value": base64(JSON.stringify(["Product", sku, 1])),
      "url-safe base64": id.replace(/\+/g, "-").replace(/\//g, "_"),
      "extra padding": `${id}==`,
      "no padding": id.replace(/=+$/, ""),
      "surrounding whitespace": ` ${id}\n`,
      "JSON spelled with spaces": base64(JSON.stringify(["Product", sku], null, 1)),
    };
    for (const [shape, variant] of Object.entries(variants)) {
      expect(variant, shape).not.toBe(id);
      const read = await answer("query($id: ID!) { node(id: $id) { id } productById(id: $id) { sku } }", { id: variant });
      expect(read, shape).toMatchObject({ status: 200, code: undefined, data: { node: null, productById: null } });
      expect(
        (await answer("mutation($id: ID!) { deleteProductById(input: { id: $id }) { deletedProductId } }", { id: variant })).code,
        shape,
      ).toBe("NOT_FOUND");
    }
    expect(await answer("query($id: ID!) { productById(id: $id) { sku } }", { id })).toMatchObject({ data: { productById: { sku } } });
    record(
      "another spelling of a real row's node id (extra key values, url-safe base64, extra or missing padding, whitespace, JSON with spaces), read and deleted",
      Object.keys(variants).length * 2,
      "null for reads, NOT_FOUND for deletes, the row kept: only the id the server gives names it, with exactly its type's key count",
    );
  });

  it("answers a key value its column's type cannot hold null or NOT_FOUND, not PostgreSQL's words, and reads the row by its own id", async () => {
    const made = await answer(
      'mutation { createProduct(input: { product: { sku: "TYPED-1", title: "x", price: "1" } }) { product { sku } } createPublicationsHistory(input: { publicationsHistory: { sku: "TYPED-1", platform: "vinted", action: create } }) { publicationsHistory { id rowId } } }',
    );
    expect(made.code, made.message).toBeUndefined();
    const { id, rowId } = (made.data as { createPublicationsHistory: { publicationsHistory: { id: string; rowId: number } } })
      .createPublicationsHistory.publicationsHistory;
    const idOf = (key: unknown) => base64(JSON.stringify(["PublicationsHistory", key]));
    expect(id).toBe(idOf(rowId));
    const keys: Record<string, unknown> = {
      "a word for an integer key": "abc",
      "a fraction": 1.5,
      "beyond int4": 2 ** 31,
      "beyond any integer type": 1e20,
      "the row's key as a string": String(rowId),
      "an exponent": `${rowId}e0`,
    };
    for (const [shape, key] of Object.entries(keys)) {
      const read = await answer("query($id: ID!) { node(id: $id) { id } publicationsHistoryById(id: $id) { rowId } }", { id: idOf(key) });
      expect(read, shape).toMatchObject({ status: 200, code: undefined, data: { node: null, publicationsHistoryById: null } });
      const write = await answer(
        "mutation($id: ID!) { updatePublicationsHistoryById(input: { id: $id, patch: { status: success } }) { publicationsHistory { rowId } } }",
        { id: idOf(key) },
      );
      expect(write.code, shape).toBe("NOT_FOUND");
    }
    expect(await answer("query($id: ID!) { node(id: $id) { id } }", { id })).toMatchObject({ data: { node: { id } } });
    record(
      "node ids whose key value its column's type cannot hold (a word, a fraction, beyond int4, 1e20, the key as a string, an exponent), read and written",
      Object.keys(keys).length * 2,
      "null for reads, NOT_FOUND for writes, never PostgreSQL's `invalid input syntax`: a key value must fit its column's type, spelled as the server spells it",
    );
  });
});

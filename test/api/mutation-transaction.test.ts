import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, graphqlOk, http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

let gw: TestGateway;
let shop: Awaited<ReturnType<typeof signUp>>;
beforeAll(async () => {
  gw = await startTestGateway();
  shop = await signUp(gw.url, "Transaction Shop", "enterprise");
});
afterAll(() => gw.close());

const skus = async (tenantId: number, prefix: string): Promise<string[]> =>
  (await gw.db.owner.query(`select sku from client_${tenantId}.products where sku like $1 order by sku`, [`${prefix}%`])).rows.map(
    (row: { sku: string }) => row.sku,
  );

const create = (alias: string, sku: string, price = "5.00") =>
  `${alias}: createProduct(input: { product: { sku: "${sku}", title: "T", price: "${price}" } }) { product { sku } }`;

describe("a request's mutation fields commit together (one transaction)", () => {
  it("keeps nothing of the first field when the second fails: every field null, the failure's code, ROLLED_BACK for the other", async () => {
    const answer = await graphql(gw.url, `mutation { ${create("a", "TX-A1")} ${create("b", "TX-A2", "-1")} }`, {}, shop.access_token);
    expect(answer.status).toBe(200);
    expect(answer.body.data).toEqual({ a: null, b: null });
    expect(answer.body.errors!.map((e: any) => [e.path, e.extensions.code])).toEqual([
      [["b"], "INVALID_INPUT"],
      [["a"], "ROLLED_BACK"],
    ]);
    expect(await skus(shop.tenant.id, "TX-A")).toEqual([]);
  });

  it("does not run the fields after a failed statement, and keeps none of them", async () => {
    const answer = await graphql(
      gw.url,
      `mutation { ${create("a", "TX-B1")} ${create("b", "TX-B1")} ${create("c", "TX-B3")} }`,
      {},
      shop.access_token,
    );
    expect(answer.body.data).toEqual({ a: null, b: null, c: null });
    expect(answer.body.errors!.map((e: any) => [e.path[0], e.extensions.code]).sort()).toEqual([
      ["a", "ROLLED_BACK"],
      ["b", "DUPLICATE"],
      ["c", "ROLLED_BACK"],
    ]);
    expect(await skus(shop.tenant.id, "TX-B")).toEqual([]);
  });

  it("commits every field when all succeed, and each field's payload reads the request's own writes", async () => {
    const data = await graphqlOk(
      gw.url,
      `mutation { ${create("a", "TX-C1")} b: createVintedProduct(input: { vintedProduct: { sku: "TX-C1", idVinted: "9" } }) { vintedProduct { sku product { title } } } }`,
      {},
      shop.access_token,
    );
    expect(data).toEqual({ a: { product: { sku: "TX-C1" } }, b: { vintedProduct: { sku: "TX-C1", product: { title: "T" } } } });
    expect(await skus(shop.tenant.id, "TX-C")).toEqual(["TX-C1"]);
  });

  it("holds through fragments and aliases at the root: ten fields, the last failing, leave nothing", async () => {
    const fields = Array.from({ length: 9 }, (_, i) => create(`f${i}`, `TX-D${i}`)).join(" ");
    const answer = await graphql(
      gw.url,
      `mutation { ...More last: createProduct(input: { product: { sku: "TX-D0", title: "T", price: "1" } }) { product { sku } } } fragment More on Mutation { ${fields} }`,
      {},
      shop.access_token,
    );
    expect(answer.body.errors!.find((e: any) => e.path?.[0] === "last")?.extensions?.code).toBe("DUPLICATE");
    expect(Object.values(answer.body.data)).toEqual(Array(10).fill(null));
    expect(await skus(shop.tenant.id, "TX-D")).toEqual([]);
  });

  it("shows no half-done request to a concurrent reader: 20 racing requests that each fail after a write leave nothing", async () => {
    let racing = true;
    const seen: string[] = [];
    const reader = (async () => {
      while (racing) seen.push(...(await skus(shop.tenant.id, "TX-E")));
    })();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        graphql(gw.url, `mutation { ${create("a", `TX-E${i}`)} ${create("b", `TX-E${i}`)} }`, {}, shop.access_token),
      ),
    );
    racing = false;
    await reader;
    expect(seen).toEqual([]);
    expect(answers.every((answer) => answer.body.data.a === null && answer.body.data.b === null)).toBe(true);
    expect(await skus(shop.tenant.id, "TX-E")).toEqual([]);
  });

  it("refuses a dead session at the transaction's opening: 401 INVALID_TOKEN, nothing written", async () => {
    const ended = await signUp(gw.url, "Ended Shop");
    expect((await http(gw.url, "POST", "/api/auth/logout", { token: ended.access_token })).status).toBe(204);
    const answer = await graphql(gw.url, `mutation { ${create("a", "TX-F1")} }`, {}, ended.access_token);
    expect(answer).toMatchObject({ status: 401, body: { errors: [{ extensions: { code: "INVALID_TOKEN" } }] } });
    expect(answer.body.data).toBeUndefined();
    expect(await skus(ended.tenant.id, "TX-F")).toEqual([]);
  });

  it("leaves the auth service's mutations their own transactions: a logout beside a failed write still ends the session", async () => {
    const other = await signUp(gw.url, "Logout Shop");
    const answer = await graphql(gw.url, `mutation { ${create("a", "TX-G1", "-1")} logout { success } }`, {}, other.access_token);
    expect(answer.body.data).toEqual({ a: null, logout: { success: true } });
    expect(answer.body.errors!.map((e: any) => [e.path[0], e.extensions.code])).toEqual([["a", "INVALID_INPUT"]]);
    // The README says so: the logout was its own transaction, and it is kept.
    expect((await http(gw.url, "GET", "/api/auth/session", { token: other.access_token })).status).toBe(401);
  });
});

describe("documents that mix the auth service's mutations with held fields", () => {
  it("never hold every connection while each waits for the service's: 24 at once on a pool of 3 all answer, and another tenant is served", async () => {
    const small = await startTestGateway({ DATABASE_POOL_SIZE: "3", DATABASE_POOL_GROUPS: "1", DATABASE_CONNECT_TIMEOUT: "3" });
    try {
      const [seller, other] = [await signUp(small.url), await signUp(small.url)];
      const mixed = (i: number) =>
        `mutation { ${create("a", `MIX-${i}`)} b: verifyEmail(input: { token: "not-a-token-${i}" }) { success } }`;
      const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => graphql(small.url, mixed(i), {}, seller.access_token)));
      const codes = answers.map(({ status, body }) => `${status} ${body.errors?.map((e: any) => e.extensions.code).join(",")}`);
      // Refused by the service (a wrong token, then too many attempts), never 503 UNAVAILABLE.
      expect(codes.filter((code) => !/^(200 TOKEN_INVALID|429 TOO_MANY_ATTEMPTS),ROLLED_BACK$/.test(code))).toEqual([]);
      expect((await graphqlOk(small.url, "{ products { totalCount } }", {}, other.access_token)).products.totalCount).toBe(0);
    } finally {
      await small.close();
    }
  }, 60_000);
});

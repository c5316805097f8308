import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, graphqlErrorCode, graphqlOk, signUp, startTestGateway, tally, type TestGateway } from "../helpers/gateway.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "tier limits and money");

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ DATABASE_POOL_SIZE: "12" });
});
afterAll(() => gw.close());

const createProduct = (token: string, sku: string) =>
  graphqlOk(
    gw.url,
    `mutation($s: String!) { createProduct(input: { product: { sku: $s, title: "Item", price: "10" } }) { product { sku } } }`,
    { s: sku },
    token,
  );
const deleteProduct = (token: string, sku: string) =>
  graphqlOk(gw.url, `mutation($s: String!) { deleteProduct(input: { sku: $s }) { product { sku } } }`, { s: sku }, token);
const generate = (token: string, sku: string, wasCached = false) =>
  graphql(
    gw.url,
    `
      mutation ($s: String!, $c: Boolean!) {
        createAiGenerationsLog(
          input: { aiGenerationsLog: { sku: $s, platform: "vinted", model: "m", generatedText: "t", wasCached: $c } }
        ) {
          aiGenerationsLog {
            rowId
          }
        }
      }
    `,
    { s: sku, c: wasCached },
    token,
  );
const publish = (token: string, sku: string, platform: string) =>
  graphql(
    gw.url,
    `
      mutation ($s: String!, $p: String!) {
        createPublicationsHistory(input: { publicationsHistory: { sku: $s, platform: $p, action: create } }) {
          publicationsHistory {
            rowId
          }
        }
      }
    `,
    { s: sku, p: platform },
    token,
  );
const codeOf = (res: { body: { errors?: { extensions?: { code?: string } }[] } }) => res.body.errors?.[0]?.extensions?.code ?? "ok";
const usage = async (token: string) =>
  (await graphqlOk(gw.url, "{ currentTenantUsage { platformsUsed aiCreditsUsed aiCreditsRemaining } }", {}, token)).currentTenantUsage;
/** A custom deal: the tenant's own monthly AI credits. */
const setCredits = (tenantId: number, credits: number) =>
  gw.db.owner.query("update tenants set ai_credits_monthly = $2 where id = $1", [tenantId, credits]);

describe("usage that cannot be erased", () => {
  it("keeps the month's AI credits used after the product (and its AI log) is deleted", async () => {
    const shop = await signUp(gw.url, "Credit Shop", "standard");
    await setCredits(shop.tenant.id, 3);
    await createProduct(shop.access_token, "P1");
    for (let i = 0; i < 3; i++) expect(codeOf(await generate(shop.access_token, "P1"))).toBe("ok");
    expect(codeOf(await generate(shop.access_token, "P1"))).toBe("LIMIT_REACHED");
    await deleteProduct(shop.access_token, "P1");
    await createProduct(shop.access_token, "P2");
    const again = await generate(shop.access_token, "P2");
    expect(codeOf(again)).toBe("LIMIT_REACHED");
    expect(again.body.errors![0].message).toMatch(/3 are used this month/);
    expect(codeOf(await generate(shop.access_token, "P2", true))).toBe("ok"); // served from cache: no credit
    expect(await usage(shop.access_token)).toMatchObject({ aiCreditsUsed: 3, aiCreditsRemaining: 0 });
    record(
      "use every AI credit, delete the product (its AI log cascades), generate again",
      6,
      "LIMIT_REACHED: 3 credits still used this month",
    );
  });

  it("keeps the platforms used after the products (and their history) are deleted, for the limit and for a downgrade", async () => {
    const starter = await signUp(gw.url, "Platform Shop");
    await createProduct(starter.access_token, "P1");
    for (const platform of ["vinted", "ebay"]) expect(codeOf(await publish(starter.access_token, "P1", platform))).toBe("ok");
    await deleteProduct(starter.access_token, "P1");
    await createProduct(starter.access_token, "P2");
    expect(codeOf(await publish(starter.access_token, "P2", "etsy"))).toBe("LIMIT_REACHED");
    expect(codeOf(await publish(starter.access_token, "P2", "vinted"))).toBe("ok");
    expect((await usage(starter.access_token)).platformsUsed).toBe(2);

    const standard = await signUp(gw.url, "Downgrading Shop", "standard");
    await createProduct(standard.access_token, "P1");
    for (const platform of ["vinted", "ebay", "etsy"]) expect(codeOf(await publish(standard.access_token, "P1", platform))).toBe("ok");
    await deleteProduct(standard.access_token, "P1");
    expect(
      await graphqlErrorCode(
        gw.url,
        `mutation { changeSubscriptionTier(input: { newTier: "starter" }) { result { tier } } }`,
        {},
        standard.access_token,
      ),
    ).toBe("LIMIT_REACHED");
    record(
      "publish on the tier's platforms, delete the product (its history cascades), publish elsewhere or downgrade",
      7,
      "LIMIT_REACHED for a third platform and for the downgrade to starter",
    );
  });

  it("lets exactly the remaining credits through 25 parallel generations, and deleting everything gives none back", async () => {
    const shop = await signUp(gw.url, "Racing Credits", "standard");
    await setCredits(shop.tenant.id, 10);
    await Promise.all(["A", "B", "C"].map((sku) => createProduct(shop.access_token, sku)));
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => generate(shop.access_token, ["A", "B", "C"][i % 3])));
    expect(tally(results.map(codeOf))).toEqual({ ok: 10, LIMIT_REACHED: 15 });
    await Promise.all(["A", "B", "C"].map((sku) => deleteProduct(shop.access_token, sku)));
    await createProduct(shop.access_token, "D");
    const after = await Promise.all(Array.from({ length: 5 }, () => generate(shop.access_token, "D")));
    expect(after.map(codeOf)).toEqual(Array(5).fill("LIMIT_REACHED"));

    const starter = await signUp(gw.url, "Racing Platforms");
    await createProduct(starter.access_token, "X");
    const platforms = await Promise.all(Array.from({ length: 10 }, (_, i) => publish(starter.access_token, "X", `platform_${i}`)));
    expect(tally(platforms.map(codeOf))).toEqual({ ok: 2, LIMIT_REACHED: 8 });
    record(
      "25 parallel AI generations with 10 credits left, then every product deleted; 10 parallel publications to new platforms on starter",
      40,
      "exactly 10 generations and 2 platforms; after the deletion still LIMIT_REACHED",
    );
  });
});

describe("money that is not a number", () => {
  it("refuses NaN and infinities in every money column with INVALID_INPUT, and totals stay numbers", async () => {
    const shop = await signUp(gw.url, "Money Shop", "standard");
    await createProduct(shop.access_token, "M1");
    await graphqlOk(
      gw.url,
      `mutation { createVintedProduct(input: { vintedProduct: { sku: "M1" } }) { vintedProduct { sku } } }`,
      {},
      shop.access_token,
    );
    const writes = (value: string) =>
      [
        [`mutation($v: BigFloat!) { createProduct(input: { product: { sku: "N", title: "N", price: $v } }) { product { sku } } }`],
        [`mutation($v: BigFloat!) { updateProduct(input: { sku: "M1", patch: { price: $v } }) { product { sku } } }`],
        [`mutation($v: BigFloat!) { updateProduct(input: { sku: "M1", patch: { costPrice: $v } }) { product { sku } } }`],
        [`mutation($v: BigFloat!) { updateVintedProduct(input: { sku: "M1", patch: { priceVinted: $v } }) { vintedProduct { sku } } }`],
        [
          `mutation($v: BigFloat!) { createAiGenerationsLog(input: { aiGenerationsLog: { sku: "M1", platform: "vinted", model: "m", generatedText: "t", cost: $v, wasCached: true } }) { aiGenerationsLog { rowId } } }`,
        ],
      ].map(([query]) => graphql(gw.url, query, { v: value }, shop.access_token));
    const values = ["NaN", "nan", "Infinity", "-Infinity", "inf"];
    const results = await Promise.all(values.flatMap(writes));
    expect(results.map(codeOf)).toEqual(Array(results.length).fill("INVALID_INPUT"));
    const totals = await graphqlOk(gw.url, "{ products { aggregates { sum { price costPrice } } } }", {}, shop.access_token);
    expect(totals.products.aggregates.sum).toEqual({ price: "10.00", costPrice: "0" });

    for (const sql of ["update tiers set price_monthly = 'NaN' where id = 'starter'", "update subscriptions set price_monthly = 'NaN'"]) {
      await expect(gw.db.owner.query(sql)).rejects.toMatchObject({ code: "23514" });
    }
    record(
      "NaN, Infinity and -Infinity as price, cost price, Vinted price and AI cost (create and update)",
      results.length,
      "INVALID_INPUT every time; sums stay numbers; tier and subscription prices refuse NaN too",
    );
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, http, signUp, startTestGateway, type TestGateway, withServer } from "../helpers/gateway.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "exports");

const EXPORT = "{ exportTenantData }";
/** Products each tenant holds: about 2.7 MB of export. */
const PRODUCTS = 300;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw.close());

/** A tenant holding PRODUCTS products of 9,000-character descriptions; returns its admin's token. */
async function stockedTenant(url: string): Promise<string> {
  const shop = await signUp(url, undefined, "enterprise");
  await gw.db.owner.query(
    `insert into ${shop.tenant.schema_name}.products (sku, title, description, price)
     select 'SKU-' || g, 'Jacket ' || g, repeat(md5(g::text), 280), 10 from generate_series(1, $1) g`,
    [PRODUCTS],
  );
  return shop.access_token;
}

const exportFrom = (url: string, token: string, address: string) =>
  http(url, "POST", "/graphql", { body: { query: EXPORT }, token, headers: { "x-forwarded-for": address } });

describe("tenant exports", () => {
  it("builds exports one at a time, one per tenant, and sheds the rest with 503 BUSY while other tenants are served", async () => {
    await withServer(gw, { TRUST_PROXY: "loopback", EXPORT_CONCURRENCY: "1", EXPORT_QUEUE: "2" }, async (url) => {
      const tokens = await Promise.all(Array.from({ length: 4 }, () => stockedTenant(url)));
      const reader = await signUp(url);
      const read = () => graphql(url, "{ products(first: 5) { totalCount } }", {}, reader.access_token);
      expect((await read()).status).toBe(200);
      const flood = tokens.flatMap((token, t) => [1, 2, 3].map((i) => exportFrom(url, token, `198.51.100.${((t * 3 + i) % 2) + 1}`)));
      const readMs: number[] = [];
      for (let i = 0; i < 10; i++) {
        const started = Date.now();
        expect((await read()).status).toBe(200);
        readMs.push(Date.now() - started);
      }
      const answers = await Promise.all(flood);
      const served = answers.filter((a) => a.status === 200);
      const busy = answers.filter((a) => a.status !== 200);
      expect(served.length).toBeGreaterThanOrEqual(3);
      expect(served.every((a) => a.body.data.exportTenantData.products.length === PRODUCTS)).toBe(true);
      // A tenant's second and third exports are refused while its first runs; a fourth tenant finds the line full.
      expect(busy.length).toBeGreaterThanOrEqual(6);
      expect(
        busy.every((a) => a.status === 503 && a.body.errors[0].extensions.code === "BUSY" && a.headers.get("retry-after") === "1"),
      ).toBe(true);
      expect(Math.max(...readMs)).toBeLessThan(2_000);
    });
    record(
      "12 concurrent exports of 2.7 MB from 4 tenants and 2 addresses (export line: 1 at a time, 2 waiting)",
      12,
      "one per tenant in line, at least 3 built whole, the rest 503 BUSY with Retry-After; another tenant's reads answered meanwhile",
    );
  });

  it("refuses an export beyond EXPORT_MAX_BYTES with EXPORT_TOO_LARGE (413), naming the limit, without building it", async () => {
    await withServer(gw, { EXPORT_MAX_BYTES: "100000" }, async (url) => {
      const token = await stockedTenant(url);
      const answer = await http(url, "POST", "/graphql", { body: { query: EXPORT }, token });
      expect(answer.status).toBe(413);
      expect(answer.body.errors[0].extensions.code).toBe("EXPORT_TOO_LARGE");
      expect(answer.body.errors[0].message).toMatch(/limit of 100000 bytes \(EXPORT_MAX_BYTES\)/);
      const small = await signUp(url);
      const fits = await http(url, "POST", "/graphql", { body: { query: EXPORT }, token: small.access_token });
      expect(fits.status).toBe(200);
      expect(fits.body.data.exportTenantData.tenant.id).toBe(small.tenant.id);
    });
    record(
      "an export of 2.7 MB against EXPORT_MAX_BYTES=100000",
      1,
      "413 EXPORT_TOO_LARGE naming the limit, refused while measuring; a small tenant's export still served",
    );
  });

  it("refuses more than one export in a request, aliased or through the query field", async () => {
    const shop = await signUp(gw.url);
    const documents = ["{ a: exportTenantData b: exportTenantData }", "{ exportTenantData query { exportTenantData } }"];
    for (const query of documents) {
      const answer = await graphql(gw.url, query, {}, shop.access_token);
      expect(answer.status).toBe(400);
      expect(answer.body.errors![0].extensions!.code).toBe("TOO_MANY_OPERATIONS");
    }
    record("two exports in one request: aliased, and nested under the query field", 2, "400 TOO_MANY_OPERATIONS before anything runs");
  });
});

import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, graphqlOk, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { until } from "../helpers/until.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "constraint refusals");

/** Each refusal's message is read from the database after the request ran (src/db/constraint-messages.ts). */
let gw: TestGateway;
let shops: { token: string }[];
beforeAll(async () => {
  gw = await startTestGateway();
  shops = [];
  for (const name of ["Refusing A", "Refusing B"]) {
    const token = (await signUp(gw.url, name)).access_token as string;
    await graphqlOk(
      gw.url,
      'mutation { createProduct(input: { product: { sku: "TAKEN", title: "Kept", price: "1" } }) { product { sku } } }',
      {},
      token,
    );
    shops.push({ token });
  }
}, 120_000);
afterAll(() => gw.close());

const CREATE = "mutation($p: ProductInput!) { createProduct(input: { product: $p }) { product { sku } } }";
const LISTING = "mutation($v: VintedProductInput!) { createVintedProduct(input: { vintedProduct: $v }) { vintedProduct { sku } } }";
/** Each write breaks one constraint: [document, variables, field, message]. */
const BREAKS: Array<[string, Record<string, unknown>, string, string]> = [
  [CREATE, { p: { sku: "TAKEN", title: "Again", price: "1" } }, "sku", "You already have a product with this SKU"],
  [CREATE, { p: { sku: "NEG", title: "Negative", price: "-1" } }, "price", "price must be zero or more"],
  [CREATE, { p: { sku: "BLANK", title: "   ", price: "1" } }, "title", "title must not be blank"],
  [LISTING, { v: { sku: "NOT-MINE" } }, "sku", "sku must be the SKU of one of your products"],
];

/** Calls of app_private.constraint_message counted by PostgreSQL (track_functions). */
async function lookups(): Promise<number> {
  const client = new pg.Client({ connectionString: gw.db.superuserUrl });
  await client.connect();
  try {
    const { rows } = await client.query(
      "select coalesce(sum(calls), 0)::int as n from pg_stat_user_functions where funcname = 'constraint_message'",
    );
    return rows[0].n;
  } finally {
    await client.end();
  }
}

describe("refusals by constraints, in parallel", () => {
  it("each of 48 parallel writes from two tenants breaking four constraints gets its own field and message, for one lookup each", async () => {
    const before = await lookups();
    const writes = Array.from({ length: 48 }, (_, i) => ({ shop: shops[i % 2], broken: BREAKS[i % BREAKS.length] }));
    const answers = await Promise.all(
      writes.map(({ shop, broken: [document, variables] }) => graphql(gw.url, document, variables, shop.token)),
    );
    answers.forEach((answer, i) => {
      const [, , field, message] = writes[i].broken;
      expect(answer.body.errors, JSON.stringify(answer.body)).toEqual([
        expect.objectContaining({ message, extensions: expect.objectContaining({ field }) }),
      ]);
      expect(JSON.stringify(answer.body)).not.toMatch(/_pkey|_check|_fkey|constraint|violates|client_\d/);
    });
    // An idle backend reports its counts within PostgreSQL's idle interval (10 s).
    await until("PostgreSQL counted the lookups", async () => (await lookups()) >= before + writes.length, 30_000);
    expect(await lookups()).toBe(before + writes.length);
    record(
      "48 parallel writes from two tenants, each breaking one of four constraints (duplicate, check, blank, another tenant's key)",
      writes.length,
      "each answered with its own field and message, no constraint name or schema; one catalog lookup per refusal",
    );
  });

  it("several refusals in one request (aliases) are answered without a constraint name, and the request writes nothing", async () => {
    const aliased = `mutation { ${BREAKS.slice(1, 3)
      .map(([, { p }], i) => {
        const { sku, title, price } = p as { sku: string; title: string; price: string };
        return `w${i}: createProduct(input: { product: { sku: "${sku}", title: "${title}", price: "${price}" } }) { product { sku } }`;
      })
      .join(" ")} }`;
    const answer = await graphql(gw.url, aliased, {}, shops[0].token);
    expect(answer.body.errors?.[0]).toMatchObject({
      message: "price must be zero or more",
      extensions: { code: "INVALID_INPUT", field: "price" },
    });
    expect(JSON.stringify(answer.body)).not.toMatch(/_pkey|_check|_fkey|constraint|violates|client_\d/);
    expect((await graphqlOk(gw.url, "{ products { totalCount } }", {}, shops[0].token)).products.totalCount).toBe(1);
    record(
      "two aliased writes in one request, each breaking a constraint",
      1,
      "the first refusal named by field and message, nothing written, no constraint name",
    );
  });
});

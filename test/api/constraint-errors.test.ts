import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyPendingTenantSteps } from "../../src/db/tenant-migrations.ts";
import { graphql, graphqlOk, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

let gw: TestGateway;
let token: string;
beforeAll(async () => {
  gw = await startTestGateway();
  token = (await signUp(gw.url, "Constraint Shop", "enterprise")).access_token;
  await graphqlOk(
    gw.url,
    `mutation {
    createProduct(input: { product: { sku: "KEEP-1", title: "Kept", price: "10.00" } }) { product { sku } }
    createVintedProduct(input: { vintedProduct: { sku: "KEEP-1", idVinted: "777" } }) { vintedProduct { sku } }
  }`,
    {},
    token,
  );
}, 120_000);
afterAll(() => gw.close());

const CREATE_PRODUCT = "mutation($p: ProductInput!) { createProduct(input: { product: $p }) { product { sku } } }";
const UPDATE_PRODUCT = 'mutation($p: ProductPatch!) { updateProduct(input: { sku: "KEEP-1", patch: $p }) { product { sku } } }';
const CREATE_VINTED = "mutation($v: VintedProductInput!) { createVintedProduct(input: { vintedProduct: $v }) { vintedProduct { sku } } }";
const UPDATE_VINTED =
  'mutation($v: VintedProductPatch!) { updateVintedProduct(input: { sku: "KEEP-1", patch: $v }) { vintedProduct { sku } } }';
const CREATE_PUBLICATION =
  "mutation($h: PublicationsHistoryInput!) { createPublicationsHistory(input: { publicationsHistory: $h }) { publicationsHistory { id } } }";
const CREATE_AI =
  "mutation($a: AiGenerationsLogInput!) { createAiGenerationsLog(input: { aiGenerationsLog: $a }) { aiGenerationsLog { id } } }";

const product = (fields: object) => ({
  p: { sku: `P-${Math.random().toString(36).slice(2)}`, title: "A shirt", price: "5.00", ...fields },
});
const publication = (fields: object) => ({ h: { sku: "KEEP-1", platform: "vinted", action: "create", ...fields } });
const generation = (fields: object) => ({ a: { sku: "KEEP-1", platform: "vinted", model: "m", generatedText: "t", ...fields } });

/** Every constraint a tenant's token can reach, each broken once: [constraint, document, variables, field, code]. */
const CASES: Array<[string, string, Record<string, unknown>, string, string]> = [
  ["products_pkey", CREATE_PRODUCT, product({ sku: "KEEP-1" }), "sku", "DUPLICATE"],
  ["products_sku_check", CREATE_PRODUCT, product({ sku: " padded " }), "sku", "INVALID_INPUT"],
  ["products_title_check", CREATE_PRODUCT, product({ title: "   " }), "title", "INVALID_INPUT"],
  ["products_price_check", CREATE_PRODUCT, product({ price: "-1" }), "price", "INVALID_INPUT"],
  ["products_price_check (NaN)", CREATE_PRODUCT, product({ price: "NaN" }), "price", "INVALID_INPUT"],
  ["products_cost_price_check", CREATE_PRODUCT, product({ costPrice: "-0.01" }), "costPrice", "INVALID_INPUT"],
  ["products_stock_quantity_check", CREATE_PRODUCT, product({ stockQuantity: -1 }), "stockQuantity", "INVALID_INPUT"],
  ["products.title not null", UPDATE_PRODUCT, { p: { title: null } }, "title", "INVALID_INPUT"],
  ["products.price not null", UPDATE_PRODUCT, { p: { price: null } }, "price", "INVALID_INPUT"],
  ["vinted_products_pkey", CREATE_VINTED, { v: { sku: "KEEP-1" } }, "sku", "DUPLICATE"],
  ["vinted_products_sku_fkey", CREATE_VINTED, { v: { sku: "NO-SUCH-SKU" } }, "sku", "INVALID_INPUT"],
  ["vinted_products_price_vinted_check", UPDATE_VINTED, { v: { priceVinted: "-3" } }, "priceVinted", "INVALID_INPUT"],
  ["vinted_products_views_count_check", UPDATE_VINTED, { v: { viewsCount: "-1" } }, "viewsCount", "INVALID_INPUT"],
  ["vinted_products_favorites_count_check", UPDATE_VINTED, { v: { favoritesCount: "-1" } }, "favoritesCount", "INVALID_INPUT"],
  ["publications_history_sku_fkey", CREATE_PUBLICATION, publication({ sku: "NO-SUCH-SKU" }), "sku", "INVALID_INPUT"],
  ["publications_history_platform_check", CREATE_PUBLICATION, publication({ platform: "Vinted!" }), "platform", "INVALID_INPUT"],
  ["ai_generations_log_sku_fkey", CREATE_AI, generation({ sku: "NO-SUCH-SKU" }), "sku", "INVALID_INPUT"],
  ["ai_generations_log_platform_check", CREATE_AI, generation({ platform: "e bay" }), "platform", "INVALID_INPUT"],
  ["ai_generations_log_cost_check", CREATE_AI, generation({ cost: "-1" }), "cost", "INVALID_INPUT"],
  ["ai_generations_log_tokens_used_check", CREATE_AI, generation({ tokensUsed: -1 }), "tokensUsed", "INVALID_INPUT"],
  ["ai_generations_log_generation_time_ms_check", CREATE_AI, generation({ generationTimeMs: -1 }), "generationTimeMs", "INVALID_INPUT"],
];

describe("a write a constraint refuses names the field and says why, not the constraint", () => {
  it.each(CASES)("%s", async (constraint, document, variables, field, code) => {
    const res = await graphql(gw.url, document, variables, token);
    const error = res.body.errors?.[0] as { message: string; extensions: Record<string, unknown> } | undefined;
    expect(error?.extensions, JSON.stringify(res.body)).toEqual({ code, field });
    expect(error!.message).toMatch(new RegExp(`^(${field} |You already|This product|Another)`));
    expect(error!.message).not.toMatch(/constraint|violates|_pkey|_check|_fkey|relation/);
    expect(JSON.stringify(res.body)).not.toContain(constraint.split(" ")[0]);
  });

  it("a duplicate Vinted id names idVinted", async () => {
    await graphqlOk(gw.url, CREATE_PRODUCT, product({ sku: "KEEP-2" }), token);
    const res = await graphql(gw.url, CREATE_VINTED, { v: { sku: "KEEP-2", idVinted: "777" } }, token);
    expect(res.body.errors?.[0]).toMatchObject({
      message: "Another of your listings already has this Vinted id",
      extensions: { code: "DUPLICATE", field: "idVinted" },
    });
  });
});

describe("every constraint of the API's tables has its message in the database", () => {
  it("no check, foreign key, primary key, unique constraint or unique index lacks one (beside it, or in app_private.constraint_messages), and none is stale", async () => {
    const { rows } = await gw.db.owner.query<{ missing: string | null; stale: string | null }>(`
      with constraints as (
        select c.relname::text as table_name, con.conname::text as constraint_name
          from pg_constraint con join pg_class c on c.oid = con.conrelid
         where c.relnamespace in ('public'::regnamespace, 'tenant_template'::regnamespace) and con.contype in ('c', 'f', 'p', 'u')
        union
        select c.relname, i.relname from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class c on c.oid = x.indrelid
         where c.relnamespace in ('public'::regnamespace, 'tenant_template'::regnamespace) and x.indisunique)
      select format('%s.%s', c.table_name, c.constraint_name) as missing, format('%s.%s', m.table_name, m.constraint_name) as stale
        from constraints c full join (select * from app_private.constraint_messages() where constraint_name is not null) m using (table_name, constraint_name)
       where m.message is null or c.constraint_name is null`);
    expect(
      rows.filter((row) => row.stale === ".").map((row) => row.missing),
      "constraints without a message",
    ).toEqual([]);
    expect(
      rows.filter((row) => row.missing === ".").map((row) => row.stale),
      "messages of no constraint",
    ).toEqual([]);
  });
});

describe("a value PostgreSQL cannot take (class 22) names the field and says why", () => {
  const BAD_VALUES: Array<[string, string, Record<string, unknown>, string, string]> = [
    ["not a number", CREATE_PRODUCT, product({ price: "abc" }), "price", "price must be a number"],
    ["too large for numeric(10,2)", CREATE_PRODUCT, product({ costPrice: "1e20" }), "costPrice", "costPrice must be less than 100,000,000"],
    ["infinite", CREATE_PRODUCT, product({ price: "Infinity" }), "price", "price must be a finite number"],
    [
      "minus infinity, PostgreSQL's short spelling",
      CREATE_PRODUCT,
      product({ costPrice: "-inf" }),
      "costPrice",
      "costPrice must be a finite number",
    ],
    ["an object for a number", CREATE_PRODUCT, product({ price: { amount: 1 } }), "price", "price must be a number"],
    ["longer than varchar(500)", CREATE_PRODUCT, product({ title: "x".repeat(501) }), "title", "title must be at most 500 characters"],
    ["not a 64-bit integer", UPDATE_VINTED, { v: { idVinted: "12abc" } }, "idVinted", "idVinted must be a number"],
    [
      "not a date",
      CREATE_PUBLICATION,
      publication({ startedAt: "not a date" }),
      "startedAt",
      "startedAt must be a date and time (ISO 8601: 2026-11-25T10:00:00Z)",
    ],
    [
      "a 13th month",
      UPDATE_VINTED,
      { v: { publishedAt: "2026-13-45T00:00:00Z" } },
      "publishedAt",
      "publishedAt must be a date and time (ISO 8601: 2026-11-25T10:00:00Z)",
    ],
  ];

  it.each(BAD_VALUES)("%s", async (_what, document, variables, field, message) => {
    const res = await graphql(gw.url, document, variables, token);
    expect(res.body.errors?.[0], JSON.stringify(res.body)).toMatchObject({ message, extensions: { code: "INVALID_INPUT", field } });
  });

  it("also when the value is written in the document, under an alias", async () => {
    const res = await graphql(
      gw.url,
      `
        mutation {
          mine: createVintedProduct(input: { vintedProduct: { sku: "KEEP-1", priceVinted: "1.2.3" } }) {
            vintedProduct {
              sku
            }
          }
        }
      `,
      {},
      token,
    );
    expect(res.body.errors?.[0]).toMatchObject({
      message: "priceVinted must be a number",
      extensions: { code: "INVALID_INPUT", field: "priceVinted" },
    });
  });
});

describe("odd shapes of a value are refused with a code and a field, never a 500, and change nothing", () => {
  const SHAPES: Array<[string, string, Record<string, unknown>, string, string]> = [
    [
      "an empty array for a number, in a filter",
      "query($v: BigFloat) { products(filter: { price: { lessThan: $v } }) { totalCount } }",
      { v: [] },
      "lessThan",
      "lessThan must be a number",
    ],
    [
      "nested arrays for a number",
      "query($v: BigFloat) { products(filter: { price: { lessThan: $v } }) { totalCount } }",
      { v: [[]] },
      "lessThan",
      "lessThan must be a number",
    ],
    [
      "an array holding null",
      "query($v: BigFloat) { products(filter: { price: { lessThan: $v } }) { totalCount } }",
      { v: [null] },
      "lessThan",
      "lessThan must be a number",
    ],
    [
      "an array for a date",
      "query($v: Datetime) { products(filter: { createdAt: { lessThan: $v } }) { totalCount } }",
      { v: [[]] },
      "lessThan",
      "lessThan must be a date and time (ISO 8601: 2026-11-25T10:00:00Z)",
    ],
    [
      "an array in a condition",
      "query($v: BigFloat) { products(condition: { price: $v }) { totalCount } }",
      { v: [] },
      "price",
      "price must be a number",
    ],
    [
      "an array in a patch, beside a valid title",
      'mutation($v: BigFloat) { updateProduct(input: { sku: "KEEP-1", patch: { price: $v, title: "CHANGED" } }) { product { sku } } }',
      { v: [1, 2] },
      "price",
      "price must be a number",
    ],
    [
      "a NUL in a text written in the document",
      'mutation { createProduct(input: { product: { sku: "NUL-1", title: "a\\u0000b", price: "1" } }) { product { sku } } }',
      {},
      "title",
      "title must not contain NUL characters",
    ],
    [
      "a NUL in a root field's argument",
      "query($s: String!) { product(sku: $s) { sku } }",
      { s: "a\u0000b" },
      "sku",
      "sku must not contain NUL characters",
    ],
  ];

  it.each(SHAPES)("%s", async (_what, document, variables, field, message) => {
    const res = await graphql(gw.url, document, variables, token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.errors?.[0], JSON.stringify(res.body)).toMatchObject({ message, extensions: { code: "INVALID_INPUT", field } });
    const kept = await graphqlOk(
      gw.url,
      '{ product(sku: "KEEP-1") { title } products(condition: { sku: "NUL-1" }) { totalCount } }',
      {},
      token,
    );
    expect(kept).toEqual({ product: { title: expect.not.stringMatching(/CHANGED/) }, products: { totalCount: 0 } });
  });

  it("answers null or {} in a filter INVALID_INPUT in the filter plugin's words, not a masked INTERNAL", async () => {
    for (const [document, variables] of [
      ["{ products(filter: { price: { lessThan: null } }) { totalCount } }", {}],
      ["query($v: String) { products(filter: { sku: { equalTo: $v } }) { totalCount } }", { v: null }],
      ["{ products(filter: { sku: {} }) { totalCount } }", {}],
    ] as const) {
      const res = await graphql(gw.url, document, variables, token);
      expect(res.body.errors?.[0], document).toMatchObject({
        message: expect.stringMatching(/^(Null literals|Empty objects) are forbidden in filter argument input\.$/),
        extensions: { code: "INVALID_INPUT" },
      });
    }
  });
});

describe("a message written beside its constraint applies to the next refusal, without a restart", () => {
  const refusedBrand = () => graphql(gw.url, CREATE_PRODUCT, product({ brand: "zz-forbidden" }), token);
  const refusedListing = () => graphql(gw.url, CREATE_VINTED, { v: { sku: "NO-SUCH-SKU" } }, token);

  it("a check constraint's comment is its message; @field and @message lines say more; the catalog is read each time", async () => {
    await gw.db.owner.query("select app_private.add_tenant_ddl_step('test fixture: products.zz_fixture_brand_check', $1)", [
      `
      alter table {schema}.products add constraint zz_fixture_brand_check check (brand is distinct from 'zz-forbidden');
      comment on constraint zz_fixture_brand_check on {schema}.products is 'brand may not be zz-forbidden';`,
    ]);
    await applyPendingTenantSteps(gw.db.owner, 50);
    expect((await refusedBrand()).body.errors?.[0]).toEqual({
      message: "brand may not be zz-forbidden",
      locations: expect.any(Array),
      path: ["createProduct"],
      extensions: { code: "INVALID_INPUT", field: "brand" },
    });
    await gw.db.owner.query(
      "comment on constraint zz_fixture_brand_check on tenant_template.products is E'@field title\\n@message Say it another way'",
    );
    expect((await refusedBrand()).body.errors?.[0]).toMatchObject({
      message: "Say it another way",
      extensions: { code: "INVALID_INPUT", field: "title" },
    });
    // A not-null violation of the same table keeps its own message (it names a column, not a constraint).
    expect((await graphql(gw.url, UPDATE_PRODUCT, { p: { title: null } }, token)).body.errors?.[0]).toMatchObject({
      message: "title is required",
      extensions: { code: "INVALID_INPUT", field: "title" },
    });
  });

  it("a foreign key's comment stays its relation's description: only a @message line replaces its message", async () => {
    const before = (await refusedListing()).body.errors?.[0];
    expect(before).toMatchObject({ message: "sku must be the SKU of one of your products", extensions: { field: "sku" } });
    await gw.db.owner.query("comment on constraint vinted_products_sku_fkey on tenant_template.vinted_products is 'The product listed.'");
    expect((await refusedListing()).body.errors?.[0]).toEqual(before);
    await gw.db.owner.query(
      "comment on constraint vinted_products_sku_fkey on tenant_template.vinted_products is E'@message List one of your products\\nThe product listed.'",
    );
    expect((await refusedListing()).body.errors?.[0]).toMatchObject({
      message: "List one of your products",
      extensions: { code: "INVALID_INPUT", field: "sku" },
    });
  });
});

describe("a crowd of refused writes", () => {
  it("holds no connection while it reads its messages: 24 duplicates at once on a pool of 3 all answer DUPLICATE, and another tenant is served", async () => {
    // The messages are read on a connection of the pool's own: were that done inside the request's
    // transaction, every connection would be held by a request waiting for a second one.
    const small = await startTestGateway({ DATABASE_POOL_SIZE: "3", DATABASE_POOL_GROUPS: "1", DATABASE_CONNECT_TIMEOUT: "3" });
    try {
      const [shop, other] = [await signUp(small.url), await signUp(small.url)];
      const create = { p: { sku: "TWICE", title: "A shirt", price: "5.00" } };
      await graphqlOk(small.url, CREATE_PRODUCT, create, shop.access_token);
      const answers = await Promise.all(Array.from({ length: 24 }, () => graphql(small.url, CREATE_PRODUCT, create, shop.access_token)));
      const codes = answers.map(({ status, body }) => `${status} ${body.errors?.[0]?.extensions?.code}`);
      expect(new Set(codes)).toEqual(new Set(["200 DUPLICATE"]));
      expect((await graphqlOk(small.url, "{ products { totalCount } }", {}, other.access_token)).products.totalCount).toBe(0);
    } finally {
      await small.close();
    }
  }, 60_000);
});

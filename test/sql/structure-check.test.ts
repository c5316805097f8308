import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, registerTenant, type TestDatabase } from "../helpers/db.ts";

/**
 * The fast structure check (tenant_structure_drift_fast: fingerprints, then line by line only for
 * the schemas whose fingerprint differs) against the full one (tenant_structure_drift: every
 * schema line by line). Each change is made by hand in a transaction that is rolled back.
 */
let db: TestDatabase;
let schemas: string[];

beforeAll(async () => {
  db = await createTestDatabase();
  schemas = [];
  for (let i = 0; i < 3; i++) schemas.push(`client_${(await registerTenant(db.app, `Check Shop ${i}`, `shop${i}@check.test`)).tenant_id}`);
});
afterAll(() => db.close());

type Difference = { schema_name: string; difference: string; object: string };

/**
 * Both checks after `statements` (`{victim}` is a tenant schema), in a transaction rolled back
 * after, and whether the victim's fingerprint is still the template's.
 */
async function checksAfter(
  ...statements: string[]
): Promise<{ fast: Difference[]; full: Difference[]; victim: string; sameFingerprint: boolean }> {
  const victim = schemas[1];
  const client = await db.owner.connect();
  try {
    await client.query("begin");
    for (const statement of statements) await client.query(statement.replaceAll("{victim}", victim));
    const fast = (await client.query<Difference>("select * from app_private.tenant_structure_drift_fast()")).rows;
    const full = (await client.query<Difference>("select * from app_private.tenant_structure_drift()")).rows;
    const { rows } = await client.query<{ same: boolean }>(
      "select count(distinct fingerprint) = 1 as same from app_private.tenant_fingerprints(array['tenant_template', $1])",
      [victim],
    );
    return { fast, full, victim, sameFingerprint: rows[0].same };
  } finally {
    await client.query("rollback");
    client.release();
  }
}

describe("the fast structure check", () => {
  it("reports nothing on a clean database, where every tenant has the template's fingerprint", async () => {
    expect(await checksAfter()).toMatchObject({ fast: [], full: [], sameFingerprint: true });
    const { rows } = await db.owner.query(
      "select count(*)::int as schemas, count(distinct fingerprint)::int as fingerprints from app_private.tenant_fingerprints(array(select schema_name from app_private.tenant_schemas))",
    );
    expect(rows).toEqual([{ schemas: schemas.length + 1, fingerprints: 1 }]);
  });

  it.each([
    [
      "a column added by hand",
      ["alter table {victim}.products add column zz_fixture_stray text"],
      [{ difference: "unexpected", object: "column products.zz_fixture_stray text" }],
    ],
    [
      "a dropped index",
      ["drop index {victim}.vinted_products_status_idx"],
      [{ difference: "missing", object: "index CREATE INDEX vinted_products_status_idx ON {schema}.vinted_products USING btree (status)" }],
    ],
    [
      "a changed grant",
      ["revoke update (price) on {victim}.products from stoflow_user", "grant update (cost_price) on {victim}.products to stoflow_viewer"],
      [
        { difference: "missing", object: "grant UPDATE (price) on products to stoflow_user" },
        { difference: "unexpected", object: "grant UPDATE (cost_price) on products to stoflow_viewer" },
      ],
    ],
    [
      "a dropped policy",
      ["drop policy own_tenant on {victim}.ai_generations_log"],
      [
        {
          difference: "missing",
          object: expect.stringMatching(/^policy ai_generations_log\.own_tenant ALL to public using .*'\{schema\}'::text/),
        },
      ],
    ],
    [
      "a policy that lets every tenant in",
      ["alter policy own_tenant on {victim}.products using (true)"],
      [
        { difference: "missing", object: expect.stringMatching(/^policy products\.own_tenant ALL to public using \(\(\( SELECT/) },
        { difference: "unexpected", object: expect.stringMatching(/^policy products\.own_tenant ALL to public using \(true\)/) },
      ],
    ],
    [
      "an altered column type",
      ["alter table {victim}.products alter column title type text"],
      [
        { difference: "missing", object: "column products.title character varying(500) not null" },
        { difference: "missing", object: "constraint products.products_title_check CHECK ((btrim((title)::text) <> ''::text))" },
        { difference: "unexpected", object: "column products.title text not null" },
        { difference: "unexpected", object: "constraint products.products_title_check CHECK ((btrim(title) <> ''::text))" },
      ],
    ],
    [
      "a check constraint changed",
      [
        "alter table {victim}.products drop constraint products_price_check",
        "alter table {victim}.products add constraint products_price_check check (price >= 1)",
      ],
      [
        { difference: "missing", object: expect.stringMatching(/^constraint products\.products_price_check CHECK .*\(0\)/) },
        { difference: "unexpected", object: "constraint products.products_price_check CHECK ((price >= (1)::numeric))" },
      ],
    ],
    [
      "a disabled trigger",
      ["alter table {victim}.products disable trigger _100_timestamps"],
      [{ difference: "unexpected", object: "trigger products._100_timestamps disabled" }],
    ],
    [
      "a dropped trigger",
      ["drop trigger _900_live on {victim}.products"],
      [
        {
          difference: "missing",
          object: expect.stringMatching(/^trigger CREATE TRIGGER _900_live AFTER INSERT OR DELETE OR UPDATE ON \{schema\}\.products/),
        },
      ],
    ],
    [
      "a default changed",
      ["alter table {victim}.products alter column stock_quantity set default 2"],
      [
        { difference: "missing", object: "column products.stock_quantity integer not null default 1" },
        { difference: "unexpected", object: "column products.stock_quantity integer not null default 2" },
      ],
    ],
  ])("names %s with the full check's lines, and only that tenant", async (_what, statements, expected) => {
    const { fast, full, victim, sameFingerprint } = await checksAfter(...statements);
    expect(sameFingerprint).toBe(false);
    expect(fast).toEqual(full);
    expect(fast).toEqual(expected.map((row) => ({ schema_name: victim, ...row })));
  });

  it("names every object of a tenant whose schema was dropped, as the full check", async () => {
    const { fast, full, victim } = await checksAfter("drop schema {victim} cascade");
    expect(fast).toEqual(full);
    expect(fast.length).toBeGreaterThan(100);
    expect(fast.every((row) => row.schema_name === victim && row.difference === "missing")).toBe(true);
  });

  it("reports nothing for a column added by hand and dropped again, as the full check", async () => {
    expect(
      await checksAfter(
        "alter table {victim}.products add column zz_fixture_gone text",
        "grant select (zz_fixture_gone) on {victim}.products to stoflow_user",
        "alter table {victim}.products drop column zz_fixture_gone",
      ),
    ).toMatchObject({ fast: [], full: [], sameFingerprint: true });
  });

  it("joins the catalogs in 64 MB of work_mem (past 10,000 tenants 4 MB spilled to disk), leaving the session's own setting", async () => {
    const client = await db.owner.connect();
    try {
      await client.query("set work_mem = '1MB'");
      const { rows } = await client.query<{ config: string[]; after: string }>(
        `select (select proconfig from pg_proc where oid = 'app_private.tenant_fingerprints(text[])'::regprocedure) as config,
                (select count(*) from app_private.tenant_structure_drift_fast()) as drift, current_setting('work_mem') as after`,
      );
      expect(rows[0].config).toContain("work_mem=64MB");
      expect(rows[0].after).toBe("1MB");
    } finally {
      await client.query("reset work_mem");
      client.release();
    }
  });

  it("names every tenant lagging behind a step as the full check does, even a step that changes no structure", async () => {
    const structure = "alter table {schema}.products add column if not exists zz_fixture_lag text";
    const words = "comment on column {schema}.products.title is 'Title, as the fixture says.'";
    const { fast, full } = await checksAfter(
      `select app_private.add_tenant_ddl_step('test fixture: products.zz_fixture_lag', '${structure}')`,
      `select app_private.add_tenant_ddl_step('test fixture: a comment', '${words.replaceAll("'", "''")}')`,
    );
    expect(fast).toEqual(full);
    const version = (await db.owner.query<{ v: number }>("select max(version)::int + 2 as v from app_private.tenant_ddl_steps")).rows[0].v;
    for (const schema_name of schemas) {
      expect(fast.filter((row) => row.schema_name === schema_name)).toEqual([
        { schema_name, difference: "missing", object: "column products.zz_fixture_lag text" },
        { schema_name, difference: "version", object: `at step ${version - 2}, template at step ${version}` },
      ]);
    }

    const onlyWords = await checksAfter(
      `select app_private.add_tenant_ddl_step('test fixture: a comment', '${words.replaceAll("'", "''")}')`,
    );
    expect(onlyWords.fast).toEqual(onlyWords.full);
    expect(onlyWords.fast.map((row) => row.difference)).toEqual(schemas.map(() => "version"));
  });
});

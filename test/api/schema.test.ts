import fs from "node:fs/promises";
import { buildSchema, isEnumType, isInputObjectType, isInterfaceType, isObjectType, type GraphQLNamedType } from "postgraphile/graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { printApiSchema } from "../../src/cli/export-schema.ts";
import { makeIntrospectionQuery } from "postgraphile/graphile-build-pg/pg-introspection";
import { TENANT_FREE_INTROSPECTION_QUERY } from "../../src/db/patches/introspection.ts";
import { createTestDatabase, registerTenant, type TestDatabase } from "../helpers/db.ts";
import { staleFileAdvice } from "../helpers/stale.ts";

let db: TestDatabase;
let printed: string;
beforeAll(async () => {
  db = await createTestDatabase();
  printed = await printApiSchema(db.appUrl);
});
afterAll(() => db.close());

describe("the GraphQL schema", () => {
  it("matches the committed schema.graphql (run `npm run schema:export` after a change)", async () => {
    const committed = await fs.readFile("schema.graphql", "utf8");
    expect(committed, staleFileAdvice("schema.graphql", committed, printed, "npm run schema:export")).toBe(printed);
  });

  it("is built from an introspection that leaves tenant schemas out, so startup does not grow with tenants", async () => {
    await registerTenant(db.app, "Introspected Shop", "intro@schema.test");
    const namespaces = async (text: string) => {
      const { rows } = await db.app.query(text);
      const result = JSON.parse(rows[0].introspection);
      return { names: result.namespaces.map((n: { nspname: string }) => n.nspname) as string[], classes: result.classes.length as number };
    };
    const full = await namespaces(makeIntrospectionQuery());
    const tenantFree = await namespaces(TENANT_FREE_INTROSPECTION_QUERY);
    expect(full.names.some((n) => n.startsWith("client_"))).toBe(true);
    expect(tenantFree.names.filter((n) => n.startsWith("client_"))).toEqual([]);
    expect(tenantFree.names).toEqual(expect.arrayContaining(["public", "tenant_template", "app_private"]));
    expect(tenantFree.classes).toBeLessThan(full.classes);
  });

  it("reads, with its index-friendly membership tests, exactly what the plain tenant-free query reads", async () => {
    // Only the plan may change (`= any (array(…))` instead of `in (select …)`), never the rows.
    const plain = makeIntrospectionQuery().replace(
      "where nspname <> 'information_schema'",
      "where nspname <> 'information_schema' and app_private.tenant_id_of_schema(nspname) is null",
    );
    expect(TENANT_FREE_INTROSPECTION_QUERY).toMatch(/attrelid = any \(array\(select classes\._id from classes\)\)/);
    const read = async (text: string) => (await db.app.query(text)).rows[0].introspection as string;
    expect(await read(TENANT_FREE_INTROSPECTION_QUERY)).toBe(await read(plain));
  });

  it("exposes no password or hash field", () => {
    expect(printed).not.toMatch(/password_?hash|hashedPassword|passwordHash|userSecret/i);
  });

  it("offers writes only where the roles have grants", () => {
    const mutations = printed.match(/^type Mutation \{[\s\S]*?^\}/m)![0];
    for (const forbidden of [
      "createTenant",
      "createUser",
      "createTier",
      "createPlatformMapping",
      "deletePublicationsHistory",
      "updateAiGenerationsLog",
      "deleteAiGenerationsLog",
    ]) {
      expect(mutations).not.toMatch(new RegExp(`\\b${forbidden}\\b`));
    }
    for (const allowed of [
      "createProduct",
      "updateProduct",
      "deleteProduct",
      "createVintedProduct",
      "createPublicationsHistory",
      "createAiGenerationsLog",
      "register",
      "login",
    ]) {
      expect(mutations).toMatch(new RegExp(`\\b${allowed}\\(`));
    }
  });

  it("describes every type, field, argument and enum value a person writes", () => {
    const undescribed = Object.values(buildSchema(printed).getTypeMap())
      .filter((type) => !type.name.startsWith("__") && !GENERATED_TYPE.test(type.name))
      .flatMap(undescribedParts)
      .filter((part) => !GENERATED_FIELD.test(part));
    expect(undescribed).toEqual([]);
  });
});

/**
 * Allowed without a description, because PostGraphile generates them from what is described
 * elsewhere: per-column aggregates (pg-aggregates), filters (connection-filter) and orderings of
 * every table, whose parts are the table's columns, described on the table's type.
 */
const GENERATED_TYPE = /(Aggregates|AggregateFilter|Having\w*Input|GroupBy|OrderBy|Filter)$/;
/** Mutation payload plumbing: the deleted row's node id, and a function mutation's return value (the function's own field is described). */
const GENERATED_FIELD = /^field \w+Payload\.(deleted\w+Id|result)$/;

/** "type T", "field T.f", "arg T.f(a)" and "value E.V" of `type` that have no description. */
function undescribedParts(type: GraphQLNamedType): string[] {
  const parts = type.description ? [] : [`type ${type.name}`];
  if (isObjectType(type) || isInterfaceType(type) || isInputObjectType(type)) {
    for (const field of Object.values(type.getFields())) {
      if (!field.description) parts.push(`field ${type.name}.${field.name}`);
      for (const arg of "args" in field ? field.args : []) if (!arg.description) parts.push(`arg ${type.name}.${field.name}(${arg.name})`);
    }
  }
  if (isEnumType(type))
    parts.push(
      ...type
        .getValues()
        .filter((value) => !value.description)
        .map((value) => `value ${type.name}.${value.name}`),
    );
  return parts;
}

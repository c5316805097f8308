import fs from "node:fs";
import { buildSchema } from "postgraphile/graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, graphqlOk, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

let gw: TestGateway;
let attacker: string;
let victimSchema: string;
/** B's keys and node ids, by mutation name. */
const theirs: Record<string, Record<string, unknown>> = {};
/** Keys and node ids that name no row at all. */
const missing: Record<string, Record<string, unknown>> = {};

const nodeId = (type: string, key: unknown) => Buffer.from(JSON.stringify([type, key])).toString("base64");

const PATCHES = {
  Product: { title: "pwned" },
  VintedProduct: { priceVinted: "0" },
  PublicationsHistory: { errorMessage: "pwned" },
  User: { fullName: "pwned" },
};

/** Every update and delete mutation by key or node id, with the key of the row it names. */
function keysOf(type: keyof typeof PATCHES, id: string, keys: Record<string, Record<string, unknown>>) {
  const patch = PATCHES[type];
  // The publication history takes no deletes.
  const byKey = (name: string, key: Record<string, unknown>) => ({
    [`update${name}`]: { ...key, patch },
    ...(type === "PublicationsHistory" ? {} : { [`delete${name}`]: key }),
  });
  return {
    ...byKey(`${type}ById`, { id }),
    ...Object.fromEntries(Object.entries(keys).flatMap(([suffix, key]) => Object.entries(byKey(`${type}${suffix}`, key)))),
  };
}

beforeAll(async () => {
  gw = await startTestGateway();
  attacker = (await signUp(gw.url, "Attacker Shop")).access_token;
  const victim = await signUp(gw.url, "Victim Shop", "enterprise");
  victimSchema = victim.tenant.schema_name;
  const rows = await graphqlOk(
    gw.url,
    `mutation {
    createProduct(input: { product: { sku: "B-1", title: "B's", price: "9.00" } }) { product { id } }
    createVintedProduct(input: { vintedProduct: { sku: "B-1", idVinted: "901" } }) { vintedProduct { id } }
    createPublicationsHistory(input: { publicationsHistory: { sku: "B-1", platform: "vinted", action: create } }) { publicationsHistory { id rowId } }
  }`,
    {},
    victim.access_token,
  );
  const user = await graphqlOk(gw.url, "query($id: Int!) { user(rowId: $id) { id } }", { id: victim.user.id }, victim.access_token);
  const publication = rows.createPublicationsHistory.publicationsHistory;
  Object.assign(
    theirs,
    keysOf("Product", rows.createProduct.product.id, { "": { sku: "B-1" } }),
    keysOf("VintedProduct", rows.createVintedProduct.vintedProduct.id, { "": { sku: "B-1" }, ByIdVinted: { idVinted: "901" } }),
    keysOf("PublicationsHistory", publication.id, { "": { rowId: publication.rowId } }),
    keysOf("User", user.user.id, { "": { rowId: victim.user.id } }),
  );
  Object.assign(
    missing,
    keysOf("Product", nodeId("Product", "NO-SUCH"), { "": { sku: "NO-SUCH" } }),
    keysOf("VintedProduct", nodeId("VintedProduct", "NO-SUCH"), { "": { sku: "NO-SUCH" }, ByIdVinted: { idVinted: "999999" } }),
    keysOf("PublicationsHistory", nodeId("PublicationsHistory", 999_999), { "": { rowId: 999_999 } }),
    keysOf("User", nodeId("User", 999_999), { "": { rowId: 999_999 } }),
  );
}, 120_000);
afterAll(() => gw.close());

/** The answer to one mutation by name, with `input`. */
async function answer(name: string, input: Record<string, unknown>) {
  const type = `${name[0].toUpperCase()}${name.slice(1)}Input`;
  return (await graphql(gw.url, `mutation($i: ${type}!) { ${name}(input: $i) { clientMutationId } }`, { i: input }, attacker)).body;
}

const NOT_FOUND = {
  data: { placeholder: null },
  errors: [{ message: "No such row, or not yours to change", extensions: { code: "NOT_FOUND" } }],
};

/** The schema's update* and delete* mutations; deleteTenant names no row: it deletes the caller's own tenant, once its name is confirmed. */
const MUTATIONS = Object.keys(buildSchema(fs.readFileSync("schema.graphql", "utf8")).getMutationType()!.getFields()).filter(
  (name) => /^(update|delete)/.test(name) && name !== "deleteTenant",
);

describe("an update or delete of a row that does not exist or is not yours answers NOT_FOUND, the same either way", () => {
  it.each(MUTATIONS)("%s", async (name) => {
    const forMissing = await answer(name, missing[name]);
    const forTheirs = await answer(name, theirs[name]);
    const expected = { ...NOT_FOUND, data: { [name]: null }, errors: [expect.objectContaining(NOT_FOUND.errors[0])] };
    expect(forMissing, "a row that does not exist").toEqual(expected);
    expect(forTheirs, "another tenant's row").toEqual(expected);
    expect(JSON.stringify(forTheirs.errors)).toBe(JSON.stringify(forMissing.errors));
  });

  it("left every row of the other tenant as it was", async () => {
    const { rows } = await gw.db.owner
      .query(`select p.title, v.price_vinted, h.error_message, (select full_name from users where tenant_id = p_tenant.id) as owner
      from ${victimSchema}.products p join ${victimSchema}.vinted_products v using (sku) join ${victimSchema}.publications_history h using (sku),
           tenants p_tenant where p_tenant.schema_name = '${victimSchema}'`);
    expect(rows).toEqual([{ title: "B's", price_vinted: null, error_message: null, owner: "Victim Shop" }]);
  });
});

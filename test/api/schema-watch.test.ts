import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installWatchFixtures } from "../../src/db/watch-fixtures.ts";
import { onlyTenantSchemas } from "../../src/graphql/schema-watch.ts";
import { registerTenant } from "../helpers/db.ts";
import { graphql, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { until } from "../helpers/until.ts";

/** Development's watch mode: PostGraphile rebuilds the schema when the database's DDL changes (GRAPHQL_WATCH). */
let gw: TestGateway;
let token: string;
beforeAll(async () => {
  gw = await startTestGateway({ GRAPHQL_WATCH: "true" });
  await installWatchFixtures(gw.db.superuserUrl); // as `npm start` does on the embedded cluster
  token = (await signUp(gw.url, "Watched Shop")).access_token;
}, 120_000);
afterAll(() => gw.close());

const description = async (field: string) => {
  const res = await graphql(gw.url, '{ __type(name: "Product") { fields { name description } } }', {}, token);
  return res.body.data?.__type.fields.find((f: { name: string }) => f.name === field)?.description as string | undefined;
};

describe("the GraphQL schema follows the database in development", () => {
  it("shows a change of tenant_template in the API without a restart, and serves the tenant's tables meanwhile", async () => {
    expect(await description("brand")).not.toBe("The brand, as the watch saw it.");
    await gw.db.owner.query("comment on column tenant_template.products.brand is 'The brand, as the watch saw it.'");
    await until(
      "the rebuilt schema has the new description",
      async () => (await description("brand")) === "The brand, as the watch saw it.",
      60_000,
    );
    expect((await graphql(gw.url, "{ products { totalCount } }", {}, token)).body).toEqual({ data: { products: { totalCount: 0 } } });
  });

  it("leaves out what DDL notifications say of tenant schemas alone (a registration), not what they say of the template", async () => {
    const listener = new pg.Client({ connectionString: gw.db.jobsUrl }); // LISTEN needs a session: never through PgBouncer
    await listener.connect();
    const payloads: string[] = [];
    listener.on("notification", (n) => payloads.push(n.payload ?? ""));
    try {
      await listener.query("listen postgraphile_watch");
      await registerTenant(gw.db.app, "Quiet Shop", "quiet@watch.test");
      await gw.db.owner.query("comment on column tenant_template.products.title is 'The title, once more.'");
      await until("the template's notification", () => payloads.some((p) => p.includes("tenant_template")), 30_000);
    } finally {
      await listener.end();
    }
    const [tenantOnly, aboutApi] = [payloads.filter(onlyTenantSchemas), payloads.filter((p) => !onlyTenantSchemas(p))];
    expect(tenantOnly.length).toBeGreaterThan(0);
    expect(tenantOnly.every((p) => /"client_\d+"/.test(p) && !p.includes("tenant_template"))).toBe(true);
    expect(aboutApi).toEqual([expect.stringContaining('"schema" : "tenant_template"')]);
    expect(onlyTenantSchemas('{"type":"drop","payload":["client_7"]}')).toBe(true);
    expect(onlyTenantSchemas('{"type":"drop","payload":["client_7","public"]}')).toBe(false);
    expect(onlyTenantSchemas("not json")).toBe(false);
  });
});

import { afterAll, beforeAll, expect, it } from "vitest";
import { stoflow as stoflowCommand } from "../../src/cli/stoflow.ts";
import { runTransaction } from "../../src/db/transaction.ts";
import { databaseEnv, runInProcess } from "../helpers/cli.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { graphql, http, signUp, spawnServer } from "../helpers/gateway.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

const stoflow = (...args: string[]) => runInProcess(stoflowCommand, args, databaseEnv(db));

const PRODUCTS = "{ products { totalCount } }";
const PRICE_CAP = "alter table {schema}.products add constraint zz_fixture_price_cap check (price < 1000)";

// Two servers start, each a process of its own: minutes on a busy machine.
it(
  "leaves the tenant whose data breaks a step behind, serves the others, answers it TENANT_MAINTENANCE until fixed and re-run",
  { timeout: 240_000 },
  async () => {
    const first = await spawnServer(db.appUrl);
    const [healthy, lagging, other] = [
      await signUp(first.url, "Cheap Shop"),
      await signUp(first.url, "Dear Shop"),
      await signUp(first.url, "Other Shop"),
    ];
    const create = await graphql(
      first.url,
      `
        mutation {
          createProduct(input: { product: { sku: "GOLD", title: "Gold watch", price: "5000" } }) {
            product {
              sku
            }
          }
        }
      `,
      {},
      lagging.access_token,
    );
    expect(create.status).toBe(200);
    first.child.kill("SIGTERM");
    await first.exited;

    // A step one tenant's data violates: the others get it, that tenant is named with PostgreSQL's message.
    const version = (
      await db.owner.query("select app_private.add_tenant_ddl_step('test fixture: products.zz_fixture_price_cap', $1) as v", [PRICE_CAP])
    ).rows[0].v;
    const schema = `client_${lagging.tenant.id}`;
    const failed = await stoflow("tenants:migrate");
    expect(failed.code).toBe(1);
    expect(failed.err).toContain(
      `tenant ${lagging.tenant.id} (${schema}) lags: step ${version} "test fixture: products.zz_fixture_price_cap": ` +
        `check constraint "zz_fixture_price_cap" of relation "products" is violated by some row [23514]`,
    );
    expect(failed.err).toMatch(/^2 tenant schemas migrated, 1 failed$/m);

    // The server starts (it retries the step at start, and logs the same failure) and serves the healthy tenants.
    const server = await spawnServer(db.appUrl, { DATABASE_OWNER_URL: db.ownerUrl });
    try {
      for (const shop of [healthy, other]) expect((await graphql(server.url, PRODUCTS, {}, shop.access_token)).status).toBe(200);
      const refused = await graphql(server.url, PRODUCTS, {}, lagging.access_token);
      expect(refused).toMatchObject({ status: 503, body: { errors: [{ extensions: { code: "TENANT_MAINTENANCE" } }] } });
      expect(refused.headers.get("retry-after")).toBe("60");
      expect(await http(server.url, "GET", "/api/auth/session", { token: lagging.access_token })).toMatchObject({
        status: 503,
        body: { code: "TENANT_MAINTENANCE" },
      });
      expect(await http(server.url, "GET", "/ready")).toMatchObject({
        status: 200,
        body: { status: "ready", tenant_schemas_behind: 1, lagging_tenants: [lagging.tenant.id] },
      });

      const check = await stoflow("tenants:check");
      expect(check.code).toBe(1);
      expect(check.out).toMatch(
        new RegExp(
          `^${lagging.tenant.id} +${schema} +${version - 1} +${version} +step ${version} "test fixture: products.zz_fixture_price_cap": check constraint`,
          "m",
        ),
      );
      expect(JSON.parse((await stoflow("tenants:migrate", "--dry-run", "--json")).out)).toEqual([
        expect.objectContaining({ tenant_id: lagging.tenant.id, missing: ["test fixture: products.zz_fixture_price_cap"] }),
      ]);

      // The fix (README: find, fix, re-run): correct the data, migrate that tenant alone, then check.
      await runTransaction(db.owner, { "jwt.claims.tenant_id": String(lagging.tenant.id) }, (client) =>
        client.query(`update ${schema}.products set price = 900 where sku = 'GOLD'`),
      );
      expect(await stoflow("tenants:migrate", "--tenant", String(lagging.tenant.id))).toMatchObject({
        code: 0,
        err: expect.stringMatching(/^1 tenant schemas migrated$/m),
      });
      expect((await graphql(server.url, PRODUCTS, {}, lagging.access_token)).status).toBe(200);
      expect(await stoflow("tenants:check")).toMatchObject({ code: 0 });
      expect((await http(server.url, "GET", "/ready")).body).toEqual({ status: "ready" });
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  },
);

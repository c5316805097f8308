import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  asSession,
  createTestDatabase,
  expectPgError,
  registerTenant,
  userSession,
  type Claims,
  type TestDatabase,
} from "../helpers/db.ts";

let db: TestDatabase;
let shop: Claims;
/** Rows of about 9 kB each: a 9 MB export. */
const PRODUCTS = 1_000;

beforeAll(async () => {
  db = await createTestDatabase();
  shop = await registerTenant(db.app, "Export Shop", "export@exports.test", "enterprise");
  await db.owner.query(
    `insert into client_${shop.tenant_id}.products (sku, title, description, price)
    select 'SKU-' || g, 'Jacket ' || g, repeat(md5(g::text), 280), 10 from generate_series(1, $1) g`,
    [PRODUCTS],
  );
});
afterAll(() => db.close());

/** export_tenant_data() as the shop's admin, with these transaction settings first. */
function exportWith(settings: Record<string, string>) {
  return asSession(db.app, userSession(shop), async (client) => {
    for (const [name, value] of Object.entries(settings)) await client.query("select set_config($1, $2, true)", [name, value]);
    return (await client.query("select public.export_tenant_data() as doc")).rows[0].doc;
  });
}

describe("export_tenant_data(), bounded by the server's settings", () => {
  it("refuses to run without a bound set (never silently unbounded)", async () => {
    await expectPgError(exportWith({}), "P0001", /stoflow\.export_max_bytes is not set/);
  });

  it("builds the whole document when it fits, and with no bound ('0', the operator's CLI)", async () => {
    expect((await exportWith({ "stoflow.export_max_bytes": "50000000" })).products).toHaveLength(PRODUCTS);
    expect((await exportWith({ "stoflow.export_max_bytes": "0" })).products).toHaveLength(PRODUCTS);
  });

  it("refuses beyond the bound with SFBIG, naming the limit", async () => {
    await expectPgError(exportWith({ "stoflow.export_max_bytes": "1000000" }), "SFBIG", /limit of 1000000 bytes \(EXPORT_MAX_BYTES\)/);
  });

  it("turns the export's statement_timeout into SFBIG, not a cancelled query", async () => {
    // 10 ms: the 9 MB document takes longer to build even on a fast, quiet machine (100 ms did not).
    await expectPgError(
      exportWith({ "stoflow.export_max_bytes": "0", statement_timeout: "10ms" }),
      "SFBIG",
      /within the time limit \(10ms\)/,
    );
  });
});

import pg from "pg";
import type { AppRole } from "../../src/auth/roles.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addTeamMember,
  confirmPassword,
  graphql,
  graphqlErrorCode,
  graphqlOk,
  http,
  signUp,
  startTestGateway,
  type TestGateway,
} from "../helpers/gateway.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ DATABASE_POOL_SIZE: "8" });
});
afterAll(() => gw.close());

const CREATE_PRODUCT = `mutation($p: ProductInput!) { createProduct(input: { product: $p }) { product { sku } } }`;
const createProduct = (token: string, sku: string) =>
  graphql(gw.url, CREATE_PRODUCT, { p: { sku, title: `Item ${sku}`, price: "5.00" } }, token);
const addMember = (tenantId: number, role: AppRole) => addTeamMember(gw, tenantId, role);

async function countRows(sql: string, params: unknown[] = []): Promise<number> {
  return (await gw.db.owner.query(`select count(*)::int as n from (${sql}) x`, params)).rows[0].n;
}

describe("tier limits", () => {
  it("refuses the 51st product of a starter tenant with 20 concurrent creators: exactly 50 exist", async () => {
    const shop = await signUp(gw.url, "Starter Shop");
    for (let batch = 0; batch < 4; batch++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => createProduct(shop.access_token, `P-${batch * 10 + i}`)));
    }
    const racers = await Promise.all(Array.from({ length: 20 }, (_, i) => createProduct(shop.access_token, `RACE-${i}`)));
    const refused = racers.filter((r) => r.body.errors);
    expect(racers.length - refused.length).toBe(10);
    expect(refused.map((r) => r.body.errors![0].extensions?.code)).toEqual(Array(10).fill("LIMIT_REACHED"));
    expect(refused[0].body.errors![0].message).toBe("Product limit reached: the starter tier allows 50 active products and 50 are in use");
    expect(await countRows(`select 1 from client_${shop.tenant.id}.products`)).toBe(50);

    // Archiving frees a slot; reactivating beyond the limit is refused.
    await graphqlOk(
      gw.url,
      `mutation { updateProduct(input: { sku: "P-0", patch: { isActive: false } }) { product { sku } } }`,
      {},
      shop.access_token,
    );
    await graphqlOk(gw.url, CREATE_PRODUCT, { p: { sku: "NEW", title: "New", price: "1" } }, shop.access_token);
    expect(
      await graphqlErrorCode(
        gw.url,
        `mutation { updateProduct(input: { sku: "P-0", patch: { isActive: true } }) { product { sku } } }`,
        {},
        shop.access_token,
      ),
    ).toBe("LIMIT_REACHED");

    const usage = await graphqlOk(
      gw.url,
      "{ currentTenantUsage { tier activeProducts maxProducts aiCreditsRemaining } }",
      {},
      shop.access_token,
    );
    expect(usage.currentTenantUsage).toEqual({ tier: "starter", activeProducts: 50, maxProducts: 50, aiCreditsRemaining: 0 });

    // Limits are per tenant: another starter tenant, registered before or after, is not blocked.
    for (const neighbour of [await signUp(gw.url, "Neighbour Shop"), await signUp(gw.url, "Later Shop")]) {
      expect((await createProduct(neighbour.access_token, "N-1")).body.errors).toBeUndefined();
    }
  });

  it("raises the limit at once on an upgrade to standard, with subscription history; refuses a downgrade below usage", async () => {
    const shop = await signUp(gw.url, "Growing Shop");
    await gw.db.owner.query(
      `insert into client_${shop.tenant.id}.products (sku, title, price) select 'S-' || i, 'x', 1 from generate_series(1, 50) i`,
    );
    expect((await createProduct(shop.access_token, "ONE-TOO-MANY")).body.errors?.[0]?.extensions?.code).toBe("LIMIT_REACHED");

    const changed = await graphqlOk(
      gw.url,
      `mutation { changeSubscriptionTier(input: { newTier: "standard" }) { result { tier priceMonthly status endDate } } }`,
      {},
      shop.access_token,
    );
    expect(changed.changeSubscriptionTier.result).toEqual({ tier: "standard", priceMonthly: "19.00", status: "active", endDate: null });
    await graphqlOk(gw.url, CREATE_PRODUCT, { p: { sku: "ONE-TOO-MANY", title: "x", price: "1" } }, shop.access_token);

    const history = await graphqlOk(
      gw.url,
      `{ subscriptionPeriods(orderBy: ROW_ID_ASC) { nodes { tier status endDate } } tenants { nodes { subscriptionTier maxProducts maxPlatforms aiCreditsMonthly } } }`,
      {},
      shop.access_token,
    );
    expect(history.subscriptionPeriods.nodes).toEqual([
      { tier: "starter", status: "expired", endDate: expect.any(String) },
      { tier: "standard", status: "active", endDate: null },
    ]);
    expect(history.tenants.nodes).toEqual([{ subscriptionTier: "standard", maxProducts: 200, maxPlatforms: 5, aiCreditsMonthly: 100 }]);

    const down = await graphql(
      gw.url,
      `
        mutation {
          changeSubscriptionTier(input: { newTier: "starter" }) {
            result {
              tier
            }
          }
        }
      `,
      {},
      shop.access_token,
    );
    expect(down.body.errors?.[0]).toMatchObject({
      message: "Cannot move to the starter tier: it allows 50 active products and 51 are active; archive some first",
      extensions: { code: "LIMIT_REACHED" },
    });
    expect(
      await graphqlErrorCode(
        gw.url,
        `mutation { changeSubscriptionTier(input: { newTier: "gold" }) { result { tier } } }`,
        {},
        shop.access_token,
      ),
    ).toBe("INVALID_INPUT");
  });

  it("refuses a third platform on starter, and AI generations beyond the month's credits", async () => {
    const shop = await signUp(gw.url, "Platform Shop");
    await createProduct(shop.access_token, "X");
    const publish = (platform: string) =>
      graphql(
        gw.url,
        `
          mutation ($p: String!) {
            createPublicationsHistory(input: { publicationsHistory: { sku: "X", platform: $p, action: create } }) {
              publicationsHistory {
                rowId
              }
            }
          }
        `,
        { p: platform },
        shop.access_token,
      );
    for (const platform of ["vinted", "ebay", "vinted"]) expect((await publish(platform)).body.errors).toBeUndefined();
    const third = await publish("etsy");
    expect(third.body.errors?.[0]).toMatchObject({
      message: "Platform limit reached: the starter tier allows 2 platforms and 2 are in use (ebay, vinted)",
      extensions: { code: "LIMIT_REACHED" },
    });

    const generate = (cached: boolean) =>
      graphql(
        gw.url,
        `
          mutation ($c: Boolean!) {
            createAiGenerationsLog(
              input: { aiGenerationsLog: { sku: "X", platform: "vinted", model: "m", generatedText: "t", wasCached: $c } }
            ) {
              aiGenerationsLog {
                rowId
              }
            }
          }
        `,
        { c: cached },
        shop.access_token,
      );
    expect((await generate(false)).body.errors?.[0]?.message).toBe(
      "AI credit limit reached: the starter tier allows 0 generations a month and 0 are used this month",
    );
    expect((await generate(true)).body.errors).toBeUndefined();
  });

  it("counts AI credits and shows what remains", async () => {
    const shop = await signUp(gw.url, "AI Shop", "standard");
    await createProduct(shop.access_token, "X");
    await gw.db.owner.query(
      `insert into client_${shop.tenant.id}.ai_generations_log (sku, platform, model, generated_text) select 'X', 'vinted', 'm', 't' from generate_series(1, 98)`,
    );
    const usage = () =>
      graphqlOk(gw.url, "{ currentTenantUsage { aiCreditsUsed aiCreditsMonthly aiCreditsRemaining } }", {}, shop.access_token);
    expect((await usage()).currentTenantUsage).toEqual({ aiCreditsUsed: 98, aiCreditsMonthly: 100, aiCreditsRemaining: 2 });
    const generate = () =>
      graphql(
        gw.url,
        `
          mutation {
            createAiGenerationsLog(input: { aiGenerationsLog: { sku: "X", platform: "vinted", model: "m", generatedText: "t" } }) {
              aiGenerationsLog {
                rowId
              }
            }
          }
        `,
        {},
        shop.access_token,
      );
    const results = await Promise.all([generate(), generate(), generate(), generate()]);
    expect(results.filter((r) => !r.body.errors)).toHaveLength(2);
    expect((await usage()).currentTenantUsage.aiCreditsRemaining).toBe(0);
  });

  it("lets a suspended tenant read but not write", async () => {
    const shop = await signUp(gw.url, "Suspended Shop");
    await createProduct(shop.access_token, "KEEP");
    await gw.db.owner.query("update tenants set subscription_status = 'suspended' where id = $1", [shop.tenant.id]);
    const write = await createProduct(shop.access_token, "NOPE");
    expect(write.body.errors?.[0]).toMatchObject({
      extensions: { code: "SUBSCRIPTION_INACTIVE" },
      message: expect.stringMatching(/suspended/),
    });
    expect(
      await graphqlErrorCode(gw.url, `mutation { deleteProduct(input: { sku: "KEEP" }) { product { sku } } }`, {}, shop.access_token),
    ).toBe("SUBSCRIPTION_INACTIVE");
    expect((await graphqlOk(gw.url, "{ products { totalCount } }", {}, shop.access_token)).products.totalCount).toBe(1);
  });
});

describe("teams", () => {
  it("lets members sign in; a viewer cannot write; a user cannot manage users", async () => {
    const shop = await signUp(gw.url, "Team Shop");
    const user = await addMember(shop.tenant.id, "user");
    const viewer = await addMember(shop.tenant.id, "viewer");
    expect(await graphqlErrorCode(gw.url, CREATE_PRODUCT, { p: { sku: "V", title: "v", price: "1" } }, viewer.token)).toBe("FORBIDDEN");
    await graphqlOk(gw.url, CREATE_PRODUCT, { p: { sku: "U", title: "u", price: "1" } }, user.token);

    const byUser = await http(gw.url, "POST", "/api/auth/invitations", { token: user.token, body: { email: "sneaky@team.test" } });
    expect([byUser.status, byUser.body.code]).toEqual([403, "FORBIDDEN"]);
    expect(await countRows("select 1 from invitations where email = 'sneaky@team.test'")).toBe(0);
    const promote = `mutation($id: Int!) { updateUser(input: { rowId: $id, patch: { role: admin } }) { user { role } } }`;
    expect(await graphqlErrorCode(gw.url, promote, { id: viewer.id }, user.token)).toBe("FORBIDDEN");
    expect(await graphqlErrorCode(gw.url, promote, { id: user.id }, user.token)).toBe("FORBIDDEN");
    expect(
      await graphqlErrorCode(
        gw.url,
        `mutation($id: Int!) { deleteUser(input: { rowId: $id }) { user { rowId } } }`,
        { id: viewer.id },
        user.token,
      ),
    ).toBeDefined();
    expect(await countRows("select 1 from users where tenant_id = $1", [shop.tenant.id])).toBe(3);
  });

  it("invites as a user when no role is given", async () => {
    const shop = await signUp(gw.url, "Default Role Shop");
    expect(
      (await http(gw.url, "POST", "/api/auth/invitations", { token: shop.access_token, body: { email: "plain@team.test" } })).status,
    ).toBe(201);
    const listed = await http(gw.url, "GET", "/api/auth/invitations", { token: shop.access_token });
    expect(listed.body.invitations).toMatchObject([{ email: "plain@team.test", role: "user" }]);
  });

  it("lets users edit only their own name and phone", async () => {
    const shop = await signUp(gw.url, "Profile Shop");
    const user = await addMember(shop.tenant.id, "user");
    const viewer = await addMember(shop.tenant.id, "viewer");
    const rename = `mutation($id: Int!, $n: String!) { updateUser(input: { rowId: $id, patch: { fullName: $n, phone: "+33 6 00 00 00 00" } }) { user { fullName phone } } }`;
    const own = await graphqlOk(gw.url, rename, { id: viewer.id, n: "Me Myself" }, viewer.token);
    expect(own.updateUser.user).toEqual({ fullName: "Me Myself", phone: "+33 6 00 00 00 00" });
    // Another user's row is invisible to the update: nothing matches, nothing changes.
    expect((await graphql(gw.url, rename, { id: user.id, n: "Hacked" }, viewer.token)).body).toEqual({
      data: { updateUser: null },
      errors: [expect.objectContaining({ message: "No such row, or not yours to change", extensions: { code: "NOT_FOUND" } })],
    });
    expect((await gw.db.owner.query("select full_name from users where id = $1", [user.id])).rows[0].full_name).toBe("A user");
  });

  it("keeps admins from changing their own role and every tenant with an active admin", async () => {
    const shop = await signUp(gw.url, "Admin Shop");
    await confirmPassword(gw.url, shop.access_token);
    const demoteSelf = await graphql(
      gw.url,
      `
        mutation ($id: Int!) {
          updateUser(input: { rowId: $id, patch: { role: viewer } }) {
            user {
              role
            }
          }
        }
      `,
      { id: shop.user.id },
      shop.access_token,
    );
    expect(demoteSelf.body.errors?.[0]).toMatchObject({ message: "Nobody changes their own role", extensions: { code: "FORBIDDEN" } });
    const second = await addMember(shop.tenant.id, "admin");
    const deactivate = `mutation($id: Int!) { updateUser(input: { rowId: $id, patch: { isActive: false } }) { user { isActive } } }`;
    await graphqlOk(gw.url, deactivate, { id: second.id }, shop.access_token);
    const last = await graphql(gw.url, deactivate, { id: shop.user.id }, shop.access_token);
    expect(last.body.errors?.[0]).toMatchObject({ extensions: { code: "LAST_ADMIN" } });
    const deleteLast = await graphql(
      gw.url,
      `
        mutation ($id: Int!) {
          deleteUser(input: { rowId: $id }) {
            user {
              rowId
            }
          }
        }
      `,
      { id: shop.user.id },
      shop.access_token,
    );
    expect(deleteLast.body.errors?.[0]?.extensions?.code).toBe("LAST_ADMIN");
    expect((await http(gw.url, "GET", "/api/auth/session", { token: second.token })).status).toBe(401);
  });

  it("gives an admin no way to touch another tenant's users", async () => {
    const mine = await signUp(gw.url, "My Shop");
    const theirs = await signUp(gw.url, "Their Shop");
    const victim = await addMember(theirs.tenant.id, "user");
    const update = await graphql(
      gw.url,
      `
        mutation ($id: Int!) {
          updateUser(input: { rowId: $id, patch: { role: viewer, isActive: false } }) {
            user {
              rowId
            }
          }
        }
      `,
      { id: victim.id },
      mine.access_token,
    );
    expect(update.body.errors?.[0]).toMatchObject({ message: "No such row, or not yours to change", extensions: { code: "NOT_FOUND" } });
    const remove = await graphql(
      gw.url,
      `
        mutation ($id: Int!) {
          deleteUser(input: { rowId: $id }) {
            user {
              rowId
            }
          }
        }
      `,
      { id: victim.id },
      mine.access_token,
    );
    expect(remove.body.errors?.[0]).toMatchObject({ message: "No such row, or not yours to change", extensions: { code: "NOT_FOUND" } });
    const read = await graphqlOk(gw.url, `query($id: Int!) { user(rowId: $id) { email } }`, { id: victim.id }, mine.access_token);
    expect(read.user).toBeNull();
    const { rows } = await gw.db.owner.query("select role, is_active, tenant_id from users where id = $1", [victim.id]);
    expect(rows).toEqual([{ role: "user", is_active: true, tenant_id: theirs.tenant.id }]);
    expect((await http(gw.url, "GET", "/api/auth/session", { token: victim.token })).status).toBe(200);
  });
});

describe("marketplace status rules", () => {
  it("follows draft → published → sold, refusing impossible transitions with INVALID_TRANSITION", async () => {
    const shop = await signUp(gw.url, "Vinted Shop");
    await createProduct(shop.access_token, "V1");
    const setStatus = (status: string, lastError?: string) =>
      graphql(
        gw.url,
        `
          mutation ($s: VintedStatus!, $e: String) {
            updateVintedProduct(input: { sku: "V1", patch: { status: $s, lastError: $e } }) {
              vintedProduct {
                status
                publishedAt
                errorCount
                lastError
              }
            }
          }
        `,
        { s: status, e: lastError ?? null },
        shop.access_token,
      );
    await graphqlOk(
      gw.url,
      `mutation { createVintedProduct(input: { vintedProduct: { sku: "V1" } }) { vintedProduct { status } } }`,
      {},
      shop.access_token,
    );

    const jump = await setStatus("sold");
    expect(jump.body.errors?.[0]).toMatchObject({
      message: "Invalid Vinted status transition: draft to sold",
      extensions: { code: "INVALID_TRANSITION" },
    });
    const published = await setStatus("published");
    expect(published.body.data.updateVintedProduct.vintedProduct).toMatchObject({ status: "published", publishedAt: expect.any(String) });
    expect((await setStatus("error")).body.errors?.[0]?.message).toBe("The error status needs last_error");
    expect((await setStatus("error", "Photo rejected")).body.data.updateVintedProduct.vintedProduct).toMatchObject({
      status: "error",
      errorCount: "1",
      lastError: "Photo rejected",
    });
    expect((await setStatus("published")).body.errors).toBeUndefined();
    expect((await setStatus("sold")).body.errors).toBeUndefined();
    expect((await setStatus("published")).body.errors?.[0]?.message).toBe("Invalid Vinted status transition: sold to published");
  });

  it("derives completion of a publication attempt and refuses to reopen it", async () => {
    const shop = await signUp(gw.url, "History Shop");
    await createProduct(shop.access_token, "H1");
    const created = await graphqlOk(
      gw.url,
      `mutation { createPublicationsHistory(input: { publicationsHistory: { sku: "H1", platform: "vinted", action: create } }) { publicationsHistory { rowId status completedAt } } }`,
      {},
      shop.access_token,
    );
    const id = created.createPublicationsHistory.publicationsHistory.rowId;
    expect(created.createPublicationsHistory.publicationsHistory).toMatchObject({ status: "pending", completedAt: null });
    const done = await graphqlOk(
      gw.url,
      `mutation($id: Int!) { updatePublicationsHistory(input: { rowId: $id, patch: { status: success } }) { publicationsHistory { status completedAt durationSeconds } } }`,
      { id },
      shop.access_token,
    );
    expect(done.updatePublicationsHistory.publicationsHistory).toMatchObject({
      status: "success",
      completedAt: expect.any(String),
      durationSeconds: expect.any(Number),
    });
    const reopen = await graphql(
      gw.url,
      `
        mutation ($id: Int!) {
          updatePublicationsHistory(input: { rowId: $id, patch: { status: error } }) {
            publicationsHistory {
              status
            }
          }
        }
      `,
      { id },
      shop.access_token,
    );
    expect(reopen.body.errors?.[0]).toMatchObject({
      message: "A publication attempt that ended (success) cannot become error",
      extensions: { code: "INVALID_TRANSITION" },
    });
  });
});

describe("platform mappings", () => {
  it("are readable by every signed-in user and writable only by the platform-operator role", async () => {
    const shop = await signUp(gw.url, "Mapping Shop");
    const operator = new pg.Client({ connectionString: gw.db.superuserUrl });
    await operator.connect();
    await operator.query("set role stoflow_platform_operator");
    await operator.query(
      "insert into platform_mappings (platform, mapping_type, our_value, platform_value, platform_id) values ('vinted', 'brand', 'Test Brand', 'Test Brand', 999999)",
    );
    await operator.end();
    const data = await graphqlOk(
      gw.url,
      `{ platformMappings(condition: { ourValue: "Test Brand" }) { nodes { platform platformId } } }`,
      {},
      shop.access_token,
    );
    expect(data.platformMappings.nodes).toEqual([{ platform: "vinted", platformId: 999999 }]);
    const client = await gw.db.app.connect();
    try {
      await client.query("begin; set local role stoflow_admin");
      await expect(
        client.query(
          "insert into platform_mappings (platform, mapping_type, our_value, platform_value) values ('vinted', 'brand', 'X', 'X')",
        ),
      ).rejects.toMatchObject({ code: "42501" });
    } finally {
      await client.query("rollback");
      client.release();
    }
  });
});

describe("tenant lifecycle", () => {
  it("exports the tenant's data as one JSON document, to admins only", async () => {
    const shop = await signUp(gw.url, "Export Shop");
    await createProduct(shop.access_token, "E1");
    const data = await graphqlOk(gw.url, "{ exportTenantData }", {}, shop.access_token);
    const doc = data.exportTenantData;
    expect(doc.tenant.name).toBe("Export Shop");
    expect(doc.products.map((p: { sku: string }) => p.sku)).toEqual(["E1"]);
    expect(doc.users.map((u: { email: string }) => u.email)).toEqual([shop.email]);
    expect(Object.keys(doc).sort()).toEqual([
      "ai_generations_log",
      "exported_at",
      "products",
      "publications_history",
      "subscriptions",
      "tenant",
      "users",
      "vinted_products",
    ]);
    expect(JSON.stringify(doc)).not.toMatch(/\$2[aby]\$|password/);
    const member = await addMember(shop.tenant.id, "user");
    expect(await graphqlErrorCode(gw.url, "{ exportTenantData }", {}, member.token)).toBe("FORBIDDEN");
  });

  it("deletes a tenant whole and touches nothing of any other", async () => {
    const doomed = await signUp(gw.url, "Doomed Shop");
    const other = await signUp(gw.url, "Other Shop");
    await Promise.all([createProduct(doomed.access_token, "SAME"), createProduct(other.access_token, "SAME")]);
    await addMember(doomed.tenant.id, "user");
    const snapshot = () =>
      gw.db.owner.query(
        `select (select count(*) from tenants)::int - 1 as tenants_left, (select jsonb_agg(p order by sku) from client_${other.tenant.id}.products p) as products,
              (select count(*) from users where tenant_id = $1)::int as users, (select count(*) from subscriptions where tenant_id = $1)::int as subs`,
        [other.tenant.id],
      );
    const before = (await snapshot()).rows[0];

    await confirmPassword(gw.url, doomed.access_token);
    expect(
      await graphqlErrorCode(gw.url, `mutation { deleteTenant(input: { confirmName: "Other Shop" }) { result } }`, {}, doomed.access_token),
    ).toBe("INVALID_INPUT");
    await graphqlOk(gw.url, `mutation { deleteTenant(input: { confirmName: "Doomed Shop" }) { result } }`, {}, doomed.access_token);

    const id = doomed.tenant.id;
    expect(await countRows("select 1 from pg_namespace where nspname = $1", [`client_${id}`])).toBe(0);
    for (const table of [
      "tenants where id = $1",
      "users where tenant_id = $1",
      "subscriptions where tenant_id = $1",
      "app_private.tenant_schemas where tenant_id = $1",
    ]) {
      expect(await countRows(`select 1 from ${table}`, [id]), table).toBe(0);
    }
    expect(await countRows("select 1 from app_private.sessions s where not exists (select 1 from users u where u.id = s.user_id)")).toBe(0);
    expect((await snapshot()).rows[0]).toEqual({ ...before, tenants_left: before.tenants_left - 1 });
    expect((await http(gw.url, "GET", "/api/auth/session", { token: doomed.access_token })).status).toBe(401);
    expect(await countRows("select * from app_private.tenant_structure_drift()")).toBe(0);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addTeamMember,
  confirmPassword,
  graphql,
  graphqlOk,
  signUp,
  startTestGateway,
  tally,
  type TestGateway,
} from "../helpers/gateway.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "concurrency");

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ DATABASE_POOL_SIZE: "24" });
});
afterAll(() => gw.close());

/** The error code of a GraphQL answer, the HTTP status when it was refused before GraphQL, or "ok". */
async function outcome(request: Promise<{ status: number; body: any }>): Promise<string> {
  const res = await request;
  if (res.status !== 200) return `HTTP ${res.status} ${res.body?.code ?? res.body?.errors?.[0]?.extensions?.code ?? ""}`.trim();
  return res.body.errors?.[0]?.extensions?.code ?? "ok";
}

describe("the last admin", () => {
  it("keeps exactly one active admin when five admins demote and deactivate each other at the same moment", async () => {
    const seen = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const shop = await signUp(gw.url);
      const admins = [{ id: shop.user.id as number, token: shop.access_token as string, password: shop.password as string }];
      for (let i = 0; i < 4; i++) admins.push(await addTeamMember(gw, shop.tenant.id, "admin"));
      await Promise.all(admins.map((admin) => confirmPassword(gw.url, admin.token, admin.password)));
      const attacks = admins.flatMap((actor, i) =>
        admins
          .filter((target) => target !== actor)
          .map((target, j) =>
            outcome(
              graphql(
                gw.url,
                `mutation($id: Int!) { updateUser(input: { rowId: $id, patch: { ${(i + j) % 2 ? "isActive: false" : "role: viewer"} } }) { user { rowId } } }`,
                { id: target.id },
                actor.token,
              ),
            ),
          ),
      );
      for (const code of await Promise.all(attacks)) seen.add(code);
      const { rows } = await gw.db.owner.query(
        "select count(*)::int as n from users where tenant_id = $1 and role = 'admin' and is_active",
        [shop.tenant.id],
      );
      expect(rows[0].n).toBe(1);
    }
    expect(
      [...seen].every((code) => ["ok", "LAST_ADMIN", "HTTP 401 INVALID_TOKEN"].includes(code)),
      [...seen].join(),
    ).toBe(true);
    record(
      "5 admins demoting or deactivating each other at the same moment (3 rounds of 20 updateUser)",
      60,
      "exactly one active admin left every time; every answer a success, LAST_ADMIN or 401 (token outdated)",
    );
  });
});

describe("deleting a tenant", () => {
  /** What a writer may hear: its own mistakes (a duplicate, a product deleted by another writer), or that the tenant is gone or busy. */
  const CLEAR_CODES = ["ok", "DUPLICATE", "INVALID_INPUT", "NO_TENANT_CONTEXT", "NOT_FOUND", "CONFLICT", "HTTP 401 INVALID_TOKEN"];

  /** Nothing of the tenant is left anywhere, and no other tenant drifted. */
  async function expectGone(tenantId: number, userIds: number[]) {
    const { rows } = await gw.db.owner.query(
      `
      select 'schema' as leftover from pg_namespace where nspname = 'client_' || $1::int
      union all select 'tenant' from tenants where id = $1
      union all select 'user' from users where tenant_id = $1::int or id = any($2::int[])
      union all select 'subscription' from subscriptions where tenant_id = $1
      union all select 'tenant schema row' from app_private.tenant_schemas where tenant_id = $1
      union all select 'session' from app_private.sessions where user_id = any($2::int[])
      union all select 'orphan refresh token' from app_private.refresh_tokens r where not exists (select 1 from app_private.sessions s where s.id = r.session_id)
      union all select 'platform usage' from app_private.platform_usage where tenant_id = $1
      union all select 'ai credit usage' from app_private.ai_credit_usage where tenant_id = $1
      union all select 'drift ' || schema_name from app_private.tenant_structure_drift()`,
      [tenantId, userIds],
    );
    expect(rows).toEqual([]);
  }

  it("deletes while 20 writers run: no deadlock, every answer a success or a clear code, and nothing is left behind", async () => {
    for (let round = 0; round < 3; round++) {
      const shop = await signUp(gw.url, `Busy Shop ${round}`, "standard");
      const member = await addTeamMember(gw, shop.tenant.id, "user");
      const tokens = [shop.access_token as string, member.token];
      await confirmPassword(gw.url, tokens[0]);
      for (let i = 0; i < 6; i++) {
        await graphqlOk(
          gw.url,
          `mutation($s: String!) { createProduct(input: { product: { sku: $s, title: "Item", price: "9.90" } }) { product { sku } } }`,
          { s: `OLD-${i}` },
          tokens[0],
        );
      }
      const writes = [
        (i: number) => `mutation { createProduct(input: { product: { sku: "NEW-${i}", title: "New", price: "5" } }) { product { sku } } }`,
        (i: number) =>
          `mutation { createPublicationsHistory(input: { publicationsHistory: { sku: "OLD-${i % 6}", platform: "vinted", action: create } }) { publicationsHistory { rowId } } }`,
        (i: number) =>
          `mutation { createAiGenerationsLog(input: { aiGenerationsLog: { sku: "OLD-${i % 6}", platform: "vinted", model: "m", generatedText: "t" } }) { aiGenerationsLog { rowId } } }`,
        (i: number) => `mutation { updateProduct(input: { sku: "OLD-${i % 6}", patch: { price: "7" } }) { product { sku } } }`,
        (i: number) => `mutation { deleteProduct(input: { sku: "OLD-${i % 6}" }) { product { sku } } }`,
        (i: number) => `mutation { createVintedProduct(input: { vintedProduct: { sku: "OLD-${i % 6}" } }) { vintedProduct { sku } } }`,
      ];
      const writers = Array.from({ length: 20 }, (_, i) => outcome(graphql(gw.url, writes[i % writes.length](i), {}, tokens[i % 2])));
      const deletion = outcome(
        graphql(
          gw.url,
          `
            mutation ($n: String!) {
              deleteTenant(input: { confirmName: $n }) {
                result
              }
            }
          `,
          { n: shop.tenant.name },
          tokens[0],
        ),
      );
      const answers = await Promise.all([...writers, deletion]);
      expect(
        answers.filter((code) => !CLEAR_CODES.includes(code)),
        answers.join(),
      ).toEqual([]);
      // The deleter backs off instead of deadlocking: neither it nor any writer loses a race.
      expect(
        answers.filter((code) => code === "CONFLICT"),
        answers.join(),
      ).toEqual([]);
      expect(await deletion).toBe("ok");
      await expectGone(shop.tenant.id, [shop.user.id, member.id]);
    }
    record(
      "deleteTenant while 20 writers (creates, updates, cascading deletes, limited inserts) run, 3 rounds",
      63,
      "no deadlock, never INTERNAL: successes, writers' own mistakes, NO_TENANT_CONTEXT or 401 once the tenant is gone; no schema, row or session left",
    );
  });

  it("lets one of two simultaneous deletions of a tenant win; the other gets a clear answer", async () => {
    const shop = await signUp(gw.url, "Twice Deleted");
    await confirmPassword(gw.url, shop.access_token);
    const del = () =>
      outcome(
        graphql(
          gw.url,
          `
            mutation {
              deleteTenant(input: { confirmName: "Twice Deleted" }) {
                result
              }
            }
          `,
          {},
          shop.access_token,
        ),
      );
    const answers = await Promise.all([del(), del(), del()]);
    expect(tally(answers).ok).toBe(1);
    expect(
      answers.filter((code) => code !== "ok").every((code) => ["NOT_FOUND", "HTTP 401 INVALID_TOKEN", "CONFLICT"].includes(code)),
      answers.join(),
    ).toBe(true);
    await expectGone(shop.tenant.id, [shop.user.id]);
    record("3 simultaneous deleteTenant of one tenant", 3, "one deletion; the others NOT_FOUND, 401 or CONFLICT");
  });
});

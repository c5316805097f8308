import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addTeamMember, graphql, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { recordAttack } from "./recorder.ts";

const record = (attack: string, attempts: number, result: string) => recordAttack(import.meta.filename, "concurrency", attack, attempts, result);

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ DATABASE_POOL_SIZE: "24" });
});
afterAll(() => gw.close());

/** The error code of a GraphQL answer, the HTTP status when it was refused before GraphQL, or "ok". */
async function outcome(request: Promise<{ status: number; body: any }>): Promise<string> {
  const res = await request;
  if (res.status !== 200) return `HTTP ${res.status} ${res.body?.code ?? ""}`.trim();
  return res.body.errors?.[0]?.extensions?.code ?? "ok";
}

describe("the last admin", () => {
  it("keeps exactly one active admin when five admins demote and deactivate each other at the same moment", async () => {
    const seen = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const shop = await signUp(gw.url);
      const admins = [{ id: shop.user.id as number, token: shop.access_token as string }];
      for (let i = 0; i < 4; i++) admins.push(await addTeamMember(gw.url, shop.access_token, "admin"));
      const attacks = admins.flatMap((actor, i) => admins.filter((target) => target !== actor).map((target, j) => outcome(graphql(gw.url,
        `mutation($id: Int!) { updateUser(input: { rowId: $id, patch: { ${(i + j) % 2 ? "isActive: false" : "role: viewer"} } }) { user { rowId } } }`,
        { id: target.id }, actor.token))));
      for (const code of await Promise.all(attacks)) seen.add(code);
      const { rows } = await gw.db.owner.query("select count(*)::int as n from users where tenant_id = $1 and role = 'admin' and is_active", [shop.tenant.id]);
      expect(rows[0].n).toBe(1);
    }
    expect([...seen].every((code) => ["ok", "LAST_ADMIN", "HTTP 401 INVALID_TOKEN"].includes(code)), [...seen].join()).toBe(true);
    record("5 admins demoting or deactivating each other at the same moment (3 rounds of 20 updateUser)", 60,
      `exactly one active admin left every time; answers: ${[...seen].sort().join(", ")}`);
  });
});

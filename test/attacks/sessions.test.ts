import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addTeamMember, graphqlOk, http, restLogin, signUp, startTestGateway, tally, type TestGateway } from "../helpers/gateway.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "sessions");

/**
 * bcrypt at cost 8, one at a time: logins and password changes queue for it, so requests sent
 * together are really in flight together. Many logins of one e-mail may be in flight at once.
 */
let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ BCRYPT_COST: "8", BCRYPT_CONCURRENCY: "1", LOGIN_MAX_FAILURES_PER_EMAIL: "100" });
});
afterAll(() => gw.close());

type Tokens = { access_token: string; refresh_token: string };
const login = (email: string, password: string) => restLogin<Tokens>(gw.url, email, password);
const refresh = (token: string) => http<Tokens>(gw.url, "POST", "/api/auth/refresh", { body: { refresh_token: token } });
const sessionStatus = async (access: string) => (await http(gw.url, "GET", "/api/auth/session", { token: access })).status;
const changePassword = (access: string, current: string, next: string) =>
  http(gw.url, "POST", "/api/auth/change-password", { token: access, body: { current_password: current, new_password: next } });
const later = <T>(ms: number, work: () => Promise<T>) =>
  new Promise<T>((resolve, reject) => setTimeout(() => void work().then(resolve, reject), ms));
const setActive = (adminToken: string, userId: number, active: boolean) =>
  graphqlOk(
    gw.url,
    "mutation($id: Int!, $a: Boolean!) { updateUser(input: { rowId: $id, patch: { isActive: $a } }) { user { isActive } } }",
    { id: userId, a: active },
    adminToken,
  );

/** Every pair of tokens is dead: the access token is refused, and so is the refresh token. */
async function expectDead(pairs: Tokens[]) {
  for (const pair of pairs) {
    expect(await sessionStatus(pair.access_token)).toBe(401);
    expect((await refresh(pair.refresh_token)).status).toBe(401);
  }
}

describe("password changes", () => {
  it("leaves no session opened with the old password alive, including logins whose bcrypt ran during the change", async () => {
    for (let round = 0; round < 3; round++) {
      const user = await signUp(gw.url);
      const logins = Array.from({ length: 8 }, (_, i) => later(i * 8, () => login(user.email, user.password)));
      const change = later(10, () => changePassword(user.access_token, user.password, "the new password"));
      const results = await Promise.all(logins);
      expect((await change).status).toBe(204);
      const sessions = results.filter((r) => r.status === 200).map((r) => r.body);
      expect(results.every((r) => r.status === 200 || r.status === 401)).toBe(true);
      await expectDead(sessions);
      expect(await sessionStatus(user.access_token)).toBe(200);
      expect((await login(user.email, user.password)).status).toBe(401);
      expect((await login(user.email, "the new password")).status).toBe(200);
    }
    record(
      "logins with the old password in flight during a password change (3 rounds of 8)",
      24,
      "every session opened with the old password dead afterwards (access and refresh), including logins checked during the change; the changing session lives",
    );
  });

  it("lets one of five sessions changing the password at once win; the others lose cleanly", async () => {
    const user = await signUp(gw.url);
    const others = await Promise.all(Array.from({ length: 4 }, () => login(user.email, user.password)));
    const sessions = [user, ...others.map((r) => r.body)];
    const results = await Promise.all(sessions.map((s, i) => changePassword(s.access_token, user.password, `new password ${i}`)));
    const codes = tally(results.map((r) => (r.status === 204 ? "204" : `${r.status} ${r.body.code}`)));
    expect(codes["204"]).toBe(1);
    expect(Object.keys(codes).every((c) => ["204", "409 CONFLICT", "403 INVALID_CREDENTIALS", "401 INVALID_TOKEN"].includes(c))).toBe(true);
    const winner = results.findIndex((r) => r.status === 204);
    for (const [i, session] of sessions.entries()) expect(await sessionStatus(session.access_token)).toBe(i === winner ? 200 : 401);
    const logins = await Promise.all(sessions.map((_, i) => login(user.email, `new password ${i}`)));
    expect(logins.map((r) => r.status)).toEqual(sessions.map((_, i) => (i === winner ? 200 : 401)));
    record(
      "5 sessions of one user changing the password at the same moment",
      5,
      "one 204, the others CONFLICT, INVALID_CREDENTIALS or INVALID_TOKEN; only the winner's password and session remain",
    );
  });

  it("kills what a refresh racing a password change hands out", async () => {
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        const user = await signUp(gw.url);
        const other = (await login(user.email, user.password)).body;
        const [changed, refreshed] = await Promise.all([
          changePassword(user.access_token, user.password, "the new password"),
          later(5, () => refresh(other.refresh_token)),
        ]);
        expect(changed.status).toBe(204);
        if (refreshed.status !== 200) expect(refreshed.status).toBe(401);
        await expectDead(refreshed.status === 200 ? [other, refreshed.body] : [other]);
        expect(await sessionStatus(user.access_token)).toBe(200);
      }),
    );
    record(
      "a refresh of another session racing a password change (4 users at once)",
      4,
      "every pair of the other session dead afterwards, whichever committed first",
    );
  });
});

describe("refresh tokens", () => {
  it("issues one pair for 20 parallel refreshes of one token, and treats the rest as a replay", async () => {
    const user = await signUp(gw.url);
    const results = await Promise.all(Array.from({ length: 20 }, () => refresh(user.refresh_token)));
    expect(tally(results.map((r) => r.status))).toEqual({ 200: 1, 401: 19 });
    await expectDead([results.find((r) => r.status === 200)!.body, user]);
    record("20 parallel refreshes of one refresh token", 20, "one new pair; the other 19 are a replay: the whole session revoked");
  });
});

it("lets nothing survive a logout racing refreshes of the same session", async () => {
  const users = await Promise.all(Array.from({ length: 4 }, () => signUp(gw.url)));
  await Promise.all(
    users.map(async (user) => {
      const [, refreshed] = await Promise.all([
        http(gw.url, "POST", "/api/auth/logout", { token: user.access_token }),
        refresh(user.refresh_token),
      ]);
      await expectDead(refreshed.status === 200 ? [user, refreshed.body] : [user]);
    }),
  );
  record(
    "a logout racing a refresh of the same session (4 users at once)",
    4,
    "every pair dead after the logout, whichever committed first",
  );
});

describe("deactivation", () => {
  it("keeps the old tokens of a deactivated then reactivated user or tenant dead", async () => {
    const shop = await signUp(gw.url);
    const member = await addTeamMember(gw, shop.tenant.id, "user");
    await setActive(shop.access_token, member.id, false);
    await setActive(shop.access_token, member.id, true);
    await expectDead([{ access_token: member.token, refresh_token: member.refreshToken }]);
    expect((await login(member.email, member.password)).status).toBe(200);

    const tenant = await signUp(gw.url);
    await gw.db.owner.query("update tenants set is_active = false where id = $1", [tenant.tenant.id]);
    await gw.db.owner.query("update tenants set is_active = true where id = $1", [tenant.tenant.id]);
    await expectDead([tenant]);
    expect((await login(tenant.email, tenant.password)).status).toBe(200);
    record(
      "old access and refresh tokens after a user, and a tenant, were deactivated then reactivated",
      4,
      "401 for all; a new login works",
    );
  });

  it("kills every session of logins and refreshes racing a deactivation, also after reactivation", async () => {
    const shop = await signUp(gw.url);
    const member = await addTeamMember(gw, shop.tenant.id, "user");
    const logins = Array.from({ length: 6 }, (_, i) => later(i * 5, () => login(member.email, member.password)));
    const refreshed = later(10, () => refresh(member.refreshToken));
    await later(12, () => setActive(shop.access_token, member.id, false));
    const results = [...(await Promise.all(logins)), await refreshed];
    await setActive(shop.access_token, member.id, true);
    const pairs = results.filter((r) => r.status === 200).map((r) => r.body);
    expect(results.every((r) => r.status === 200 || r.status === 401)).toBe(true);
    await expectDead([...pairs, { access_token: member.token, refresh_token: member.refreshToken }]);
    expect((await login(member.email, member.password)).status).toBe(200);
    record(
      "6 logins and a refresh racing the deactivation of the user, then a reactivation",
      7,
      "every pair handed out before the deactivation committed dead, also after the reactivation",
    );
  });
});

import jwt from "jsonwebtoken";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionLiveness } from "../../src/auth/session-liveness.ts";
import { startGateway, type Gateway } from "../../src/server.ts";
import { addTeamMember, configOver, graphql, http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { until } from "../helpers/until.ts";

/**
 * Session liveness in memory (issue 29): a session seen live is opened without the SQL check while
 * the process hears every revocation; a revocation applies within SESSION_LIVENESS_WINDOW_MS on
 * every gateway process, and a lost LISTEN connection sends every session back to the SQL check.
 */
let gw: TestGateway;
let other: Gateway;
let owner: pg.Pool;

beforeAll(async () => {
  gw = await startTestGateway();
  other = await startGateway(gw.db.appUrl, configOver(gw.db));
  owner = new pg.Pool({ connectionString: gw.db.ownerUrl, max: 2 });
});
afterAll(async () => {
  await owner.end();
  await other.close();
  await gw.close();
});

const PRODUCTS = "{ products(first: 1) { totalCount } }";
const status = async (url: string, token: string) => {
  const answer = await graphql(url, PRODUCTS, {}, token);
  return answer.body.errors?.[0]?.extensions?.code ?? answer.status;
};
const sessionOf = (token: string) => (jwt.decode(token) as { sid: string }).sid;
/** Makes the SQL check refuse the session without announcing it (a change made behind the revocation functions). */
const outdateSilently = (token: string) =>
  owner.query(
    "update app_private.user_secrets set credential_version = credential_version + 1 where user_id = (select user_id from app_private.sessions where id = $1)",
    [sessionOf(token)],
  );
/** Waits until both gateways trust the session (their LISTEN connections proved themselves). */
async function trustedOnBoth(token: string) {
  await until("both gateways hear", async () => (await status(gw.url, token)) === 200 && (await status(other.url, token)) === 200);
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (const url of [gw.url, other.url]) expect(await status(url, token)).toBe(200);
}

describe("a session seen live", () => {
  it("is opened without the SQL check on two gateway processes", async () => {
    const seller = await signUp(gw.url, "Liveness Trusted");
    await trustedOnBoth(seller.access_token);
    // The SQL check would now refuse it; the gateways still serve it: they trust what they verified.
    await outdateSilently(seller.access_token);
    for (const url of [gw.url, other.url]) expect(await status(url, seller.access_token)).toBe(200);
  });

  it("ends within a second on every gateway process when it logs out on one", async () => {
    const seller = await signUp(gw.url, "Liveness Logout");
    await trustedOnBoth(seller.access_token);
    const loggedOut = Date.now();
    expect((await http(other.url, "POST", "/api/auth/logout", { token: seller.access_token })).status).toBeLessThan(300);
    expect(await status(other.url, seller.access_token)).toBe("INVALID_TOKEN"); // where it logged out: the very next request
    await Promise.all(
      [gw.url, other.url].map((url) =>
        until("the logout applied", async () => (await status(url, seller.access_token)) === "INVALID_TOKEN", 1_000),
      ),
    );
    expect(Date.now() - loggedOut).toBeLessThan(1_000);
  });

  it("ends on the very next request when an admin deactivates its user through a GraphQL mutation on the same process", async () => {
    const admin = await signUp(gw.url, "Liveness Team");
    const member = await addTeamMember(gw, (jwt.decode(admin.access_token) as { tenant_id: number }).tenant_id, "user");
    await until("the member trusted", async () => {
      await status(gw.url, member.token);
      await new Promise((resolve) => setTimeout(resolve, 300));
      return (await status(gw.url, member.token)) === 200;
    });
    const deactivate = `mutation($id: Int!) { updateUser(input: { rowId: $id, patch: { isActive: false } }) { user { isActive } } }`;
    expect((await graphql(gw.url, deactivate, { id: member.id }, admin.access_token)).body.errors).toBeUndefined();
    expect(await status(gw.url, member.token)).toBe("INVALID_TOKEN");
  });

  it("is checked in SQL again once the LISTEN connection is lost: nothing revoked is served", async () => {
    const seller = await signUp(gw.url, "Liveness Lost");
    await trustedOnBoth(seller.access_token);
    const superuser = new pg.Client({ connectionString: gw.db.superuserUrl });
    await superuser.connect();
    try {
      // Every gateway's LISTEN connection killed, then the session refused in SQL with no announcement at all.
      await superuser.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'stoflow listen'");
      await outdateSilently(seller.access_token);
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const url of [gw.url, other.url]) expect(await status(url, seller.access_token)).toBe("INVALID_TOKEN");
    } finally {
      await superuser.end();
    }
  });

  it("is trusted again once the LISTEN connection came back and proved itself", async () => {
    const seller = await signUp(gw.url, "Liveness Back");
    await trustedOnBoth(seller.access_token);
    await outdateSilently(seller.access_token);
    for (const url of [gw.url, other.url]) expect(await status(url, seller.access_token)).toBe(200);
  });
});

describe("the liveness record", () => {
  const CLAIMS = '{"jwt.claims.tenant_id":"1"}';
  const settings = { windowMs: 1_000, maxSessions: 10, accessTtlMs: 60_000 };
  const hearing = () => {
    const liveness = new SessionLiveness(settings);
    liveness.heard(performance.now());
    return liveness;
  };

  it("trusts nothing before its LISTEN connection answered a ping, nor after the window", () => {
    const liveness = new SessionLiveness(settings);
    liveness.checkPassed("a", CLAIMS, liveness.checkStarting());
    expect(liveness.knownLive("a", CLAIMS, "1")).toBe(false);
    liveness.heard(performance.now() - 1_500);
    liveness.checkPassed("a", CLAIMS, liveness.checkStarting());
    expect(liveness.knownLive("a", CLAIMS, "1")).toBe(false);
  });

  it("records no check that began before a loss, nor one whose session ended while it ran", () => {
    const liveness = hearing();
    const before = liveness.checkStarting();
    liveness.lost();
    liveness.heard(performance.now());
    liveness.checkPassed("a", CLAIMS, before);
    expect(liveness.knownLive("a", CLAIMS, "1")).toBe(false);
    const started = liveness.checkStarting();
    liveness.ended("b");
    liveness.checkPassed("b", CLAIMS, started);
    expect(liveness.knownLive("b", CLAIMS, "1")).toBe(false);
    liveness.checkPassed("c", CLAIMS, liveness.checkStarting());
    expect(liveness.knownLive("c", CLAIMS, "1")).toBe(true);
    liveness.ended("c");
    expect(liveness.knownLive("c", CLAIMS, "1")).toBe(false);
  });

  it("trusts no session of a tenant whose write committed here until a ping sent after it is answered", async () => {
    const liveness = hearing();
    liveness.checkPassed("a", CLAIMS, liveness.checkStarting());
    liveness.fence("1");
    expect(liveness.knownLive("a", CLAIMS, "1")).toBe(false);
    expect(liveness.knownLive("a", CLAIMS, "2")).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 2));
    liveness.heard(performance.now());
    expect(liveness.knownLive("a", CLAIMS, "1")).toBe(true);
    liveness.fence(undefined); // an auth flow without a tenant (a reset by e-mailed link): every tenant
    expect(liveness.knownLive("a", CLAIMS, "2")).toBe(false);
  });

  it("trusts a session only with the claims it was checked with (a token naming another tenant or role is checked in SQL)", () => {
    const liveness = hearing();
    liveness.checkPassed("a", CLAIMS, liveness.checkStarting());
    expect(liveness.knownLive("a", CLAIMS, "1")).toBe(true);
    expect(liveness.knownLive("a", '{"jwt.claims.tenant_id":"2"}', "2")).toBe(false);
  });

  it("trusts nothing with a window of 0 (SESSION_LIVENESS_WINDOW_MS=0)", () => {
    const liveness = new SessionLiveness({ ...settings, windowMs: 0 });
    liveness.heard(performance.now());
    liveness.checkPassed("a", CLAIMS, liveness.checkStarting());
    expect(liveness.knownLive("a", CLAIMS, "1")).toBe(false);
  });
});

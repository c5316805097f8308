import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw.close());

const AUTH_FIELDS =
  "accessToken tokenType expiresIn refreshToken user { rowId email fullName role } tenant { rowId name subscriptionTier schemaName }";
const REGISTER = `mutation($input: RegisterInput!) { register(input: $input) { ${AUTH_FIELDS} } }`;
const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { ${AUTH_FIELDS} } }`;
const SESSION = "{ currentSession { user { email role } tenant { name schemaName } } }";

describe("GraphQL auth (the seed's integration tests, as mutations)", () => {
  it("registers", async () => {
    const res = await graphql(gw.url, REGISTER, {
      input: { name: "GQL Company", email: "gql@example.com", password: "test_password_123" },
    });
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.register).toMatchObject({
      tokenType: "bearer",
      expiresIn: 900,
      user: { email: "gql@example.com", role: "admin", fullName: "GQL Company" },
      tenant: { name: "GQL Company", subscriptionTier: "starter", schemaName: expect.stringMatching(/^client_\d+$/) },
    });
  });

  it("refuses a duplicate e-mail with code EMAIL_TAKEN", async () => {
    const res = await graphql(gw.url, REGISTER, { input: { name: "Again", email: "GQL@example.com", password: "test_password_123" } });
    expect(res.body.data?.register).toBeNull();
    expect(res.body.errors).toEqual([
      expect.objectContaining({ message: "Email already registered", extensions: { code: "EMAIL_TAKEN" } }),
    ]);
  });

  it("logs in, and refuses a wrong password with INVALID_CREDENTIALS", async () => {
    const ok = await graphql(gw.url, LOGIN, { input: { email: "gql@example.com", password: "test_password_123" } });
    expect(ok.body.data.login.user.email).toBe("gql@example.com");
    const wrong = await graphql(gw.url, LOGIN, { input: { email: "gql@example.com", password: "wrong_password" } });
    expect(wrong.body.errors).toEqual([
      expect.objectContaining({ message: "Incorrect email or password", extensions: { code: "INVALID_CREDENTIALS" } }),
    ]);
  });

  it("returns the current session, and null without a token", async () => {
    const { access_token } = await signUp(gw.url, "Session Shop");
    const res = await graphql(gw.url, SESSION, {}, access_token);
    expect(res.body.data.currentSession).toEqual({
      user: { email: expect.stringMatching(/^session-shop/), role: "admin" },
      tenant: { name: "Session Shop", schemaName: expect.stringMatching(/^client_\d+$/) },
    });
    expect((await graphql(gw.url, SESSION)).body).toEqual({ data: { currentSession: null } });
  });

  it("refreshes, logs out and changes the password", async () => {
    const session = await signUp(gw.url);
    const refreshed = await graphql(
      gw.url,
      "mutation($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken refreshToken } }",
      { t: session.refresh_token },
    );
    const { accessToken, refreshToken } = refreshed.body.data.refreshToken;
    const reuse = await graphql(gw.url, "mutation($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken } }", {
      t: session.refresh_token,
    });
    expect(reuse.body.errors?.[0]?.extensions?.code).toBe("INVALID_REFRESH_TOKEN");
    // Refused before GraphQL runs, and still answered in GraphQL's shape, with the HTTP status kept.
    expect(await graphql(gw.url, SESSION, {}, accessToken)).toMatchObject({
      status: 401,
      body: { errors: [{ message: "Session ended or account inactive", extensions: { code: "INVALID_TOKEN" } }] },
    });
    expect(refreshToken).toEqual(expect.any(String));

    const other = await signUp(gw.url);
    const changed = await graphql(
      gw.url,
      "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { success } }",
      { i: { currentPassword: other.password, newPassword: "another long password" } },
      other.access_token,
    );
    expect(changed.body.data.changePassword).toEqual({ success: true });
    const out = await graphql(gw.url, "mutation { logout { success } }", {}, other.access_token);
    expect(out.body.data.logout).toEqual({ success: true });
    expect((await graphql(gw.url, SESSION, {}, other.access_token)).status).toBe(401);
  });

  it("refuses logout without a session", async () => {
    const res = await graphql(gw.url, "mutation { logout { success } }");
    expect(res.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  });

  it("reports invalid input with INVALID_INPUT and creates nothing", async () => {
    const res = await graphql(gw.url, REGISTER, { input: { name: "Short", email: "short@example.com", password: "short" } });
    expect(res.body.errors).toEqual([
      expect.objectContaining({ message: "password must be at least 8 characters", extensions: { code: "INVALID_INPUT" } }),
    ]);
    const { rows } = await gw.db.owner.query("select count(*)::int as n from tenants where email = 'short@example.com'");
    expect(rows[0].n).toBe(0);
  });

  it("throttles logins with TOO_MANY_ATTEMPTS and a retryAfter", async () => {
    const victim = await signUp(gw.url);
    for (let i = 0; i < 5; i++) await graphql(gw.url, LOGIN, { input: { email: victim.email, password: `nope-${i}-nope` } });
    const res = await graphql(gw.url, LOGIN, { input: { email: victim.email, password: victim.password } });
    expect(res.body.errors?.[0]?.extensions).toEqual({ code: "TOO_MANY_ATTEMPTS", retryAfter: expect.any(Number) });
  });
});

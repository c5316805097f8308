import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw.close());

// The seed's tests/integration/test_api_auth.py, translated.
describe("REST auth (the seed's integration tests)", () => {
  it("registers a tenant with its admin (201)", async () => {
    const res = await http(gw.url, "POST", "/api/auth/register", {
      body: { name: "Test Company", email: "test@example.com", password: "test_password_123", subscription_tier: "starter" },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      access_token: expect.any(String),
      token_type: "bearer",
      refresh_token: expect.any(String),
      user: { email: "test@example.com", role: "admin", full_name: "Test Company", id: expect.any(Number) },
      tenant: { name: "Test Company", subscription_tier: "starter", schema_name: expect.stringMatching(/^client_\d+$/) },
    });
    expect(JSON.stringify(res.body)).not.toMatch(/\$2[aby]\$|hash/i);
  });

  it("refuses a duplicate e-mail with 400 'Email already registered'", async () => {
    await http(gw.url, "POST", "/api/auth/register", {
      body: { name: "Company 1", email: "duplicate@example.com", password: "password123" },
    });
    const res = await http(gw.url, "POST", "/api/auth/register", {
      body: { name: "Company 2", email: "Duplicate@Example.com", password: "password456" },
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ detail: "Email already registered", code: "EMAIL_TAKEN" });
  });

  it("logs in", async () => {
    await http(gw.url, "POST", "/api/auth/register", {
      body: { name: "Login Test", email: "login@example.com", password: "login_password_123" },
    });
    const res = await http(gw.url, "POST", "/api/auth/login", { body: { email: "login@example.com", password: "login_password_123" } });
    expect(res.status).toBe(200);
    expect(res.body.access_token).toEqual(expect.any(String));
    expect(res.body.user.email).toBe("login@example.com");
  });

  it("refuses a wrong password with 401 'Incorrect email or password'", async () => {
    const res = await http(gw.url, "POST", "/api/auth/login", { body: { email: "login@example.com", password: "wrong_password" } });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ detail: "Incorrect email or password", code: "INVALID_CREDENTIALS" });
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
  });

  it("answers an unknown e-mail exactly like a wrong password", async () => {
    const res = await http(gw.url, "POST", "/api/auth/login", { body: { email: "nobody@example.com", password: "whatever-123" } });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ detail: "Incorrect email or password", code: "INVALID_CREDENTIALS" });
  });

  it("returns the session for a token", async () => {
    const registered = await http(gw.url, "POST", "/api/auth/register", {
      body: { name: "Session Test", email: "session@example.com", password: "session_password_123" },
    });
    const res = await http(gw.url, "GET", "/api/auth/session", { token: registered.body.access_token });
    expect(res.status).toBe(200);
    expect(res.body.user.email).toBe("session@example.com");
    expect(res.body.tenant.name).toBe("Session Test");
    expect(res.body).toEqual({ user: registered.body.user, tenant: registered.body.tenant });
  });

  it("refuses the session without a token: 401 with WWW-Authenticate: Bearer", async () => {
    const res = await http(gw.url, "GET", "/api/auth/session");
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    expect(res.body.code).toBe("UNAUTHENTICATED");
  });
});

describe("REST input handling", () => {
  it.each([
    [{ email: "x@example.com", password: "long enough" }, "name is required"],
    [{ name: "X", email: "not-an-email", password: "long enough" }, "email is not a valid e-mail address"],
    [{ name: "X", email: "short@example.com", password: "short" }, "password must be at least 8 characters"],
    [{ name: "X", email: "long@example.com", password: "é".repeat(37) }, "password must be at most 72 bytes"],
    [
      { name: "X", email: "tier@example.com", password: "long enough", subscription_tier: "platinum" },
      'Unknown subscription tier "platinum"',
    ],
    [{ name: ["X"], email: "arr@example.com", password: "long enough" }, "name is required"],
  ])("refuses %j with 422 and changes nothing", async (body, detail) => {
    const res = await http(gw.url, "POST", "/api/auth/register", { body });
    expect(res.status).toBe(422);
    expect(res.body).toEqual({ detail, code: "INVALID_INPUT" });
    const { rows } = await gw.db.owner.query("select count(*)::int as n from tenants where email = $1", [
      (body as { email: string }).email,
    ]);
    expect(rows[0].n).toBe(0);
  });

  it("answers malformed JSON with 400 and an oversized body with 413", async () => {
    const bad = await http(gw.url, "POST", "/api/auth/login", { body: "{not json" });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe("BAD_REQUEST");
    const big = await http(gw.url, "POST", "/api/auth/login", { body: { email: "a@b.c", password: "x".repeat(20_000) } });
    expect(big.status).toBe(413);
  });

  it("serves / and /health, and 404 for unknown routes", async () => {
    expect((await http(gw.url, "GET", "/")).body).toMatchObject({ message: "Stoflow API", graphql: "/graphql", graphiql: "/graphiql" });
    expect(await http(gw.url, "GET", "/health")).toMatchObject({ status: 200, body: { status: "ok", database: "ok" } });
    expect(await http(gw.url, "GET", "/nope")).toMatchObject({ status: 404, body: { code: "NOT_FOUND" } });
  });

  it("serves the explorer at /graphiql", async () => {
    const res = await fetch(`${gw.url}/graphiql`, { headers: { accept: "text/html" } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/ruru/i);
  });
});

describe("sessions", () => {
  it("rotates refresh tokens and revokes the family when a used one comes back", async () => {
    const first = await signUp(gw.url);
    const second = await http(gw.url, "POST", "/api/auth/refresh", { body: { refresh_token: first.refresh_token } });
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    expect((await http(gw.url, "GET", "/api/auth/session", { token: second.body.access_token })).status).toBe(200);

    const replay = await http(gw.url, "POST", "/api/auth/refresh", { body: { refresh_token: first.refresh_token } });
    expect(replay.status).toBe(401);
    expect(replay.body).toEqual({ detail: "Refresh token already used; the session is revoked", code: "INVALID_REFRESH_TOKEN" });
    // The whole family is gone: the newest refresh token and the access token too.
    expect((await http(gw.url, "POST", "/api/auth/refresh", { body: { refresh_token: second.body.refresh_token } })).status).toBe(401);
    expect((await http(gw.url, "GET", "/api/auth/session", { token: second.body.access_token })).status).toBe(401);
  });

  it("refuses unknown and malformed refresh tokens", async () => {
    expect((await http(gw.url, "POST", "/api/auth/refresh", { body: { refresh_token: "made-up" } })).status).toBe(401);
    expect((await http(gw.url, "POST", "/api/auth/refresh", { body: {} })).status).toBe(422);
  });

  it("logs out: the access and refresh tokens of the session stop working", async () => {
    const session = await signUp(gw.url);
    expect((await http(gw.url, "POST", "/api/auth/logout", { token: session.access_token })).status).toBe(204);
    expect((await http(gw.url, "GET", "/api/auth/session", { token: session.access_token })).status).toBe(401);
    expect((await http(gw.url, "POST", "/api/auth/refresh", { body: { refresh_token: session.refresh_token } })).status).toBe(401);
  });

  it("changes the password and ends the other sessions, keeping this one", async () => {
    const here = await signUp(gw.url);
    const there = await http(gw.url, "POST", "/api/auth/login", { body: { email: here.email, password: here.password } });
    const wrong = await http(gw.url, "POST", "/api/auth/change-password", {
      token: here.access_token,
      body: { current_password: "not it at all", new_password: "brand new password" },
    });
    expect(wrong).toMatchObject({ status: 403, body: { code: "INVALID_CREDENTIALS" } });
    const changed = await http(gw.url, "POST", "/api/auth/change-password", {
      token: here.access_token,
      body: { current_password: here.password, new_password: "brand new password" },
    });
    expect(changed.status).toBe(204);
    expect((await http(gw.url, "GET", "/api/auth/session", { token: here.access_token })).status).toBe(200);
    expect((await http(gw.url, "GET", "/api/auth/session", { token: there.body.access_token })).status).toBe(401);
    const login = (password: string) => http(gw.url, "POST", "/api/auth/login", { body: { email: here.email, password } });
    expect((await login(here.password)).status).toBe(401);
    expect((await login("brand new password")).status).toBe(200);
  });

  it("refuses a deactivated user and a deactivated tenant from the very next request", async () => {
    const user = await signUp(gw.url);
    await gw.db.owner.query("update users set is_active = false where id = $1", [user.user.id]);
    expect((await http(gw.url, "GET", "/api/auth/session", { token: user.access_token })).status).toBe(401);
    expect((await http(gw.url, "POST", "/api/auth/login", { body: { email: user.email, password: user.password } })).status).toBe(401);

    const tenant = await signUp(gw.url);
    await gw.db.owner.query("update tenants set is_active = false where id = $1", [tenant.tenant.id]);
    expect((await http(gw.url, "GET", "/api/auth/session", { token: tenant.access_token })).status).toBe(401);
    expect((await http(gw.url, "POST", "/api/auth/refresh", { body: { refresh_token: tenant.refresh_token } })).status).toBe(401);
  });

  it("refuses a token whose role is no longer the user's: a raised role comes with the next refresh, a lowered one ends the sessions", async () => {
    const viewer = await signUp(gw.url);
    await gw.db.owner.query("update users set role = 'viewer' where id = $1", [viewer.user.id]);
    expect((await http(gw.url, "GET", "/api/auth/session", { token: viewer.access_token })).status).toBe(401); // lowered: ended
    expect((await http(gw.url, "POST", "/api/auth/refresh", { body: { refresh_token: viewer.refresh_token } })).status).toBe(401);

    const login = await http(gw.url, "POST", "/api/auth/login", { body: { email: viewer.email, password: viewer.password } });
    await gw.db.owner.query("update users set role = 'admin' where id = $1", [viewer.user.id]);
    const res = await http(gw.url, "GET", "/api/auth/session", { token: login.body.access_token });
    expect(res).toMatchObject({ status: 401, body: { detail: "Token outdated; refresh it" } });
    const refreshed = await http(gw.url, "POST", "/api/auth/refresh", { body: { refresh_token: login.body.refresh_token } });
    expect(refreshed.body.user.role).toBe("admin");
  });
});

describe("login throttling", () => {
  it("answers 429 with Retry-After after 5 failures for one e-mail, even with the right password", async () => {
    const victim = await signUp(gw.url);
    for (let i = 0; i < 5; i++) {
      const res = await http(gw.url, "POST", "/api/auth/login", { body: { email: victim.email, password: `guess-${i}-xxxx` } });
      expect(res.status).toBe(401);
    }
    const blocked = await http(gw.url, "POST", "/api/auth/login", {
      body: { email: victim.email.toUpperCase(), password: victim.password },
    });
    expect(blocked.status).toBe(429);
    expect(blocked.body.code).toBe("TOO_MANY_ATTEMPTS");
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(800);
    const { rows } = await gw.db.owner.query("select attempts from app_private.attempt_counters where key = $1", [
      `login-email:${victim.email}`,
    ]);
    expect(rows).toEqual([{ attempts: 5 }]);
  });

  it("throttles one client address across e-mails (50 attempts)", async () => {
    await gw.db.owner.query(
      "insert into app_private.attempt_counters (key, window_ends_at, attempts) values ('login-address:203.0.113.9', now() + interval '15 minutes', 50)",
    );
    const { rows } = await gw.db.owner.query(
      "select retry_after from app_private.begin_login('anyone@example.com', '203.0.113.9', 5, 50, 900, 30)",
    );
    expect(rows[0].retry_after).toBeGreaterThan(800);
  });
});

import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { plantEmailChange, plantInvitationToken, plantToken } from "../helpers/mail.ts";
import { addTeamMember, http, signUp, startTestGateway, type HttpResult, type TestGateway } from "../helpers/gateway.ts";

let gw: TestGateway;
let ajv: Ajv2020;
let paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, { content?: Record<string, unknown> }> }>>;
/** Every documented route a test called, as `METHOD path` (each must be called at least once). */
const called = new Set<string>();

beforeAll(async () => {
  gw = await startTestGateway();
  const document = (await http(gw.url, "GET", "/openapi.json")).body;
  expect(document.openapi).toBe("3.1.0");
  paths = document.paths;
  // OpenAPI 3.1 schemas are JSON Schema 2020-12: the whole document is added, and each answer is
  // checked against its response's schema by pointer (the $refs resolve inside the document).
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema(document, "openapi");
});
afterAll(() => gw.close());

const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");

/** The answer is one the document describes: its status is listed, and its body matches that response's schema. */
function expectDocumented(method: string, path: string, res: HttpResult) {
  called.add(`${method} ${path}`);
  const response = paths[path]?.[method.toLowerCase()]?.responses[res.status];
  expect(response, `${method} ${path} answered ${res.status}, which the document does not list`).toBeDefined();
  if (!response.content) return expect(res.body).toBeUndefined();
  const validate = ajv.getSchema(
    `openapi#/paths/${pointer(path, method.toLowerCase(), "responses", String(res.status), "content", "application/json", "schema")}`,
  )!;
  expect(validate(res.body), `${method} ${path} ${res.status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(res.body)}`).toBe(true);
}

/** A body the route took (it did not answer that the body is malformed or breaks a rule) is one its request schema accepts. */
function expectAcceptedBodyDocumented(method: string, path: string, body: unknown, res: HttpResult) {
  if (body === undefined || typeof body === "string" || [400, 413, 422].includes(res.status)) return;
  const validate = ajv.getSchema(
    `openapi#/paths/${pointer(path, method.toLowerCase(), "requestBody", "content", "application/json", "schema")}`,
  )!;
  expect(
    validate(body),
    `${method} ${path} took ${JSON.stringify(body)}, which its request schema refuses: ${ajv.errorsText(validate.errors)}`,
  ).toBe(true);
}

/**
 * Calls the route for real and checks its answer, and the body it took, against the document
 * (`documented`: its templated path, `/invitations/{id}`).
 */
async function call(method: string, path: string, options: Parameters<typeof http>[3] = {}, documented = path) {
  const res = await http(gw.url, method, path, options);
  expectDocumented(method, documented, res);
  expectAcceptedBodyDocumented(method, documented, options.body, res);
  return res;
}

describe("/openapi.json and /docs", () => {
  it("serves the document and the Swagger UI (its scripts from this server)", async () => {
    const page = await fetch(`${gw.url}/docs/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("swagger-ui-bundle.js");
    expect(html).not.toMatch(/src="https?:/);
    expect((await fetch(`${gw.url}/docs/swagger-ui-bundle.js`)).status).toBe(200);
  });
});

describe("every REST route answers as its OpenAPI document says", () => {
  it("the probes and the root", async () => {
    await call("GET", "/health");
    await call("GET", "/ready");
    await call("GET", "/");
  });

  it("register: 201, EMAIL_TAKEN, INVALID_INPUT, malformed JSON, too large", async () => {
    const email = `openapi-${Date.now()}@example.test`;
    const created = await call("POST", "/api/auth/register", { body: { name: "OpenAPI Shop", email, password: "a long password" } });
    expect(created.status).toBe(201);
    expect((await call("POST", "/api/auth/register", { body: { name: "Again", email, password: "a long password" } })).body.code).toBe(
      "EMAIL_TAKEN",
    );
    const short = await call("POST", "/api/auth/register", { body: { name: "X", email: "x@example.test", password: "short" } });
    expect(short.body).toEqual({ detail: "password must be at least 8 characters", code: "INVALID_INPUT" });
    expect((await call("POST", "/api/auth/register", { body: "{bad" })).status).toBe(400);
    expect((await call("POST", "/api/auth/register", { body: { name: "x".repeat(20_000) } })).status).toBe(413);
  });

  it("login, refresh and session: their answers and refusals", async () => {
    const shop = await signUp(gw.url);
    const login = await call("POST", "/api/auth/login", { body: { email: shop.email, password: shop.password } });
    expect(login.status).toBe(200);
    expect((await call("POST", "/api/auth/login", { body: { email: shop.email } })).status).toBe(422);
    for (let i = 0; i < 5; i++)
      expect((await call("POST", "/api/auth/login", { body: { email: shop.email, password: "wrong password" } })).status).toBe(401);
    expect((await call("POST", "/api/auth/login", { body: { email: shop.email, password: shop.password } })).status).toBe(429);

    expect((await call("POST", "/api/auth/refresh", { body: { refresh_token: login.body.refresh_token } })).status).toBe(200);
    expect((await call("POST", "/api/auth/refresh", { body: { refresh_token: login.body.refresh_token } })).status).toBe(401);
    expect((await call("GET", "/api/auth/session", { token: shop.access_token })).status).toBe(200);
    expect((await call("GET", "/api/auth/session")).status).toBe(401);
    expect((await call("GET", "/api/auth/session", { token: "not.a.jwt" })).status).toBe(401);
  });

  it("confirm-password, change-password and logout", async () => {
    const shop = await signUp(gw.url);
    const confirm = (password: unknown) => call("POST", "/api/auth/confirm-password", { token: shop.access_token, body: { password } });
    expect((await confirm("not my password")).body.code).toBe("INVALID_CREDENTIALS");
    expect((await confirm(42)).status).toBe(422);
    expect((await confirm(shop.password)).body).toEqual({ reauthenticated_until: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    const change = (current: string, next: string) =>
      call("POST", "/api/auth/change-password", { token: shop.access_token, body: { current_password: current, new_password: next } });
    expect((await change("not my password", "another long password")).status).toBe(403);
    expect((await change(shop.password, "short")).status).toBe(422);
    expect((await change(shop.password, "another long password")).status).toBe(204);
    expect((await call("POST", "/api/auth/logout", { token: shop.access_token })).status).toBe(204);
    expect((await call("POST", "/api/auth/logout", { token: shop.access_token })).status).toBe(401);
  });

  it("the routes of e-mailed links: verify-email, resend-verification, forgot-password, reset-password", async () => {
    const shop = await signUp(gw.url);
    const token = await plantToken(gw.db.owner, shop.user.id, "verify_email");
    expect((await call("POST", "/api/auth/verify-email", { body: { token } })).status).toBe(204);
    expect((await call("POST", "/api/auth/verify-email", { body: { token } })).body.code).toBe("TOKEN_USED");
    expect((await call("POST", "/api/auth/verify-email", { body: {} })).status).toBe(422);
    expect((await call("POST", "/api/auth/resend-verification", { body: { email: shop.email } })).status).toBe(202);
    expect((await call("POST", "/api/auth/resend-verification", { body: { email: "not an address" } })).status).toBe(422);
    expect((await call("POST", "/api/auth/forgot-password", { body: { email: shop.email } })).status).toBe(202);
    const reset = await plantToken(gw.db.owner, shop.user.id, "reset_password");
    expect((await call("POST", "/api/auth/reset-password", { body: { token: reset, new_password: "short" } })).status).toBe(422);
    expect((await call("POST", "/api/auth/reset-password", { body: { token: reset, new_password: "a new long password" } })).status).toBe(
      204,
    );
    expect(
      (await call("POST", "/api/auth/reset-password", { body: { token: reset, new_password: "a new long password" } })).body.code,
    ).toBe("TOKEN_USED");
  });

  it("invitations: invite, list, resend, revoke, accept", async () => {
    const admin = await signUp(gw.url);
    const email = `openapi-invitee-${Date.now()}@example.test`;
    const invited = await call("POST", "/api/auth/invitations", { token: admin.access_token, body: { email, role: "viewer" } });
    expect(invited.status).toBe(201);
    expect((await call("POST", "/api/auth/invitations", { token: admin.access_token, body: { email: admin.email } })).status).toBe(201);
    expect(
      (await call("POST", "/api/auth/invitations", { token: admin.access_token, body: { email: "a@b.test<postmaster>" } })).status,
    ).toBe(422);
    expect((await call("POST", "/api/auth/invitations", { token: admin.access_token, body: { email, role: "admin" } })).body.code).toBe(
      "REAUTHENTICATION_REQUIRED",
    );
    expect(
      (await call("GET", "/api/auth/invitations", { token: admin.access_token })).body.invitations.map((i: { email: string }) => i.email),
    ).toEqual([email, admin.email]);
    const resend = (id: string) =>
      call("POST", `/api/auth/invitations/${id}/resend`, { token: admin.access_token }, "/api/auth/invitations/{id}/resend");
    expect((await resend(String(invited.body.id))).status).toBe(202);
    expect((await resend("999999")).status).toBe(404);
    expect((await resend("x")).status).toBe(422);
    const revoke = (id: string, token = admin.access_token) =>
      call("DELETE", `/api/auth/invitations/${id}`, { token }, "/api/auth/invitations/{id}");
    expect((await revoke("0")).status).toBe(422);

    const token = await plantInvitationToken(gw.db.owner, invited.body.id);
    const accepted = await call("POST", "/api/auth/accept-invitation", { body: { token, password: "an invitee password" } });
    expect(accepted.status).toBe(200);
    const viewer = accepted.body.access_token;
    expect((await call("POST", "/api/auth/invitations", { token: viewer, body: { email: "x@example.test" } })).status).toBe(403);
    expect((await call("GET", "/api/auth/invitations", { token: viewer })).status).toBe(403);
    const pending = (await call("GET", "/api/auth/invitations", { token: admin.access_token })).body.invitations;
    expect((await revoke(String(pending[0].id), viewer)).status).toBe(403);
    expect((await revoke(String(pending[0].id))).status).toBe(204);
    expect((await revoke(String(pending[0].id))).status).toBe(404);
  });

  it("the change of address: asked with the password, confirmed by both addresses, or cancelled", async () => {
    const shop = await signUp(gw.url);
    const ask = (body: Record<string, unknown>) => call("POST", "/api/auth/change-email", { token: shop.access_token, body });
    const newEmail = `openapi-moved-${Date.now()}@example.test`;
    expect((await ask({ new_email: newEmail, current_password: "not my password" })).status).toBe(403);
    expect((await ask({ new_email: newEmail })).status).toBe(422);
    expect((await ask({ new_email: newEmail, current_password: shop.password })).status).toBe(202);
    const change = await plantEmailChange(gw.db.owner, shop.user.id, newEmail);
    const confirm = (token: string) => call("POST", "/api/auth/confirm-email-change", { body: { token } });
    expect((await call("POST", "/api/auth/cancel-email-change", { body: { token: change.new } })).body.code).toBe("TOKEN_INVALID");
    expect((await confirm(change.new)).body).toEqual({
      changed: false,
      detail: "Confirmed: the change takes effect once the other address confirms it too",
    });
    expect((await confirm(change.new)).body.code).toBe("TOKEN_USED");
    expect((await call("POST", "/api/auth/cancel-email-change", { body: { token: change.old } })).status).toBe(204);
    expect((await confirm(change.old)).body.code).toBe("TOKEN_INVALID");

    const other = await signUp(gw.url);
    const second = await plantEmailChange(gw.db.owner, other.user.id, `openapi-other-${Date.now()}@example.test`);
    expect((await confirm(second.old)).body.changed).toBe(false);
    expect((await confirm(second.new)).body).toEqual({ changed: true, detail: "The address changed: sign in again with it" });
  });

  it("billing: the subscription's state, Checkout and the webhook (BILLING=none here: BILLING_DISABLED)", async () => {
    const shop = await signUp(gw.url, undefined, "standard");
    const state = await call("GET", "/api/billing/subscription", { token: shop.access_token });
    expect(state.body).toMatchObject({ tier: "standard", status: "active" });
    const member = await addTeamMember(gw, shop.tenant.id, "viewer");
    expect((await call("GET", "/api/billing/subscription", { token: member.token })).status).toBe(403);
    expect((await call("POST", "/api/billing/checkout", { token: shop.access_token, body: { tier: "premium" } })).body.code).toBe(
      "BILLING_DISABLED",
    );
    expect((await call("POST", "/api/billing/checkout", { body: { tier: "premium" } })).status).toBe(401);
    const event = JSON.stringify({ id: "evt_1", type: "invoice.paid", created: 1, data: { object: {} } });
    expect((await call("POST", "/api/billing/stripe/webhook", { body: event, headers: { "stripe-signature": "t=1,v1=0" } })).status).toBe(
      409,
    );
  });

  it("called every documented route", () => {
    const documented = Object.entries(paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    expect([...called].sort()).toEqual(documented.sort());
  });
});

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, http, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "input fuzzing");

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw.close());

const RUNS = 200;
const tenantCount = async () => (await gw.db.owner.query("select count(*)::int as n from tenants")).rows[0].n as number;
const schemaCount = async () =>
  (await gw.db.owner.query("select count(*)::int as n from pg_namespace where nspname ~ '^client_'")).rows[0].n as number;

/** Values an attacker would send: odd strings, numbers, nesting, nulls, huge and unicode text. */
const hostileValue = fc.oneof(
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.string({ unit: "grapheme", maxLength: 80 }),
  fc.string({ minLength: 60, maxLength: 400 }),
  fc.constantFrom(
    "",
    " ",
    "admin",
    "' or 1=1 --",
    "a@b.c",
    "x@example.com",
    "\u0000",
    "a\u0000b",
    "nul\u0000@example.com",
    "🙂".repeat(40),
    "starter",
    "enterprise",
  ),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.object({ maxDepth: 2 }),
);
/** A body that would pass, with one field replaced by a hostile value: reaches the deep paths. */
const almostValidBody = fc
  .tuple(fc.constantFrom("name", "email", "password", "subscription_tier"), hostileValue, fc.nat())
  .map(([field, value, n]) => ({
    name: "Fuzz Shop",
    email: `fuzz${n}@example.com`,
    password: "fuzz password",
    subscription_tier: "starter",
    [field]: value,
  }));
const authBody = fc.oneof(
  { arbitrary: almostValidBody, weight: 3 },
  {
    arbitrary: fc.record(
      { name: hostileValue, email: hostileValue, password: hostileValue, subscription_tier: hostileValue, refresh_token: hostileValue },
      { requiredKeys: [] },
    ),
    weight: 1,
  },
);

describe("fuzzing the auth inputs", () => {
  it("refuses NUL characters with 422 (found by this suite: they were a 500)", async () => {
    for (const body of [
      { name: "a\u0000b", email: "nul@example.com", password: "long enough" },
      { name: "n", email: "nul@example.com", password: "long\u0000enough" },
    ]) {
      expect(await http(gw.url, "POST", "/api/auth/register", { body })).toMatchObject({ status: 422, body: { code: "INVALID_INPUT" } });
    }
    expect(
      (await http(gw.url, "POST", "/api/auth/login", { body: { email: "nul\u0000@example.com", password: "long enough" } })).status,
    ).toBe(422);
    record("NUL characters in register and login fields", 3, "422 INVALID_INPUT");
  });

  it("REST register, login and refresh: never a 5xx, and a tenant exists only for each 201", async () => {
    const [tenantsBefore, schemasBefore] = [await tenantCount(), await schemaCount()];
    let created = 0;
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("register", "login", "refresh"), authBody, async (route, body) => {
        const res = await http(gw.url, "POST", `/api/auth/${route}`, { body });
        statuses.add(res.status);
        if (res.status === 201) created++;
        expect(res.status).toBeLessThan(500);
        expect([200, 201, 400, 401, 413, 422, 429]).toContain(res.status);
        expect(JSON.stringify(res.body)).not.toMatch(/\$2[aby]\$|at .*\.ts:\d+|stack/);
      }),
      { numRuns: RUNS, seed: 20261124 },
    );
    expect(await tenantCount()).toBe(tenantsBefore + created);
    expect(await schemaCount()).toBe(schemasBefore + created);
    expect((await http(gw.url, "GET", "/health")).status).toBe(200);
    record(
      "random JSON bodies to REST register, login, refresh",
      RUNS,
      `statuses ${[...statuses].sort().join(", ")}; no 5xx, no partial writes`,
    );
  });

  it("GraphQL register and login: only actionable error codes, never a masked server error", async () => {
    const tenantsBefore = await tenantCount();
    let created = 0;
    await fc.assert(
      fc.asyncProperty(fc.boolean(), authBody, async (register, body) => {
        const input = register
          ? { name: body.name, email: body.email, password: body.password, subscriptionTier: body.subscription_tier }
          : { email: body.email, password: body.password };
        const query = register
          ? "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }"
          : "mutation($i: LoginInput!) { login(input: $i) { accessToken } }";
        const res = await graphql(gw.url, query, { i: input });
        expect(res.status).toBeLessThan(500);
        for (const error of res.body.errors ?? []) {
          expect(error.message).not.toMatch(/An error occurred/);
        }
        if (register && res.body.data?.register) created++;
      }),
      { numRuns: RUNS, seed: 11242026 },
    );
    expect(await tenantCount()).toBe(tenantsBefore + created);
    record(
      "random variables to GraphQL register and login",
      RUNS,
      "validation errors or actionable codes; no masked error, no partial writes",
    );
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, http, restLogin, startTestGateway, tally, type TestGateway } from "../helpers/gateway.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "throttling");

/**
 * The gateway trusts X-Forwarded-For from loopback, so each test speaks from addresses of its own
 * (as clients behind a load balancer do). Limits at their defaults (5 wrong passwords per e-mail,
 * 50 logins per address in 15 minutes, 5 wrong current passwords per user), registrations low.
 */
let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({
    TRUST_PROXY: "loopback",
    LOGIN_MAX_ATTEMPTS_PER_ADDRESS: "50",
    REGISTRATIONS_PER_ADDRESS_PER_HOUR: "5",
    REGISTRATIONS_PER_EMAIL_PER_HOUR: "2",
  });
});
afterAll(() => gw.close());

let lastAddress = 0;
const newAddress = () => `198.51.100.${++lastAddress}`;
const from = (address: string) => ({ "x-forwarded-for": address });
const PASSWORD = "the right password";

const register = (email: string, address: string) =>
  http(gw.url, "POST", "/api/auth/register", { body: { name: `Shop ${email}`, email, password: PASSWORD }, headers: from(address) });
const login = (email: string, password: string, address: string) => restLogin(gw.url, email, password, from(address));

async function newVictim() {
  const email = `victim-${Math.random().toString(36).slice(2)}@throttle.test`;
  const res = await register(email, newAddress());
  expect(res.status).toBe(201);
  return { email, id: res.body.user.id as number, token: res.body.access_token as string };
}

const attemptsOf = async (key: string) =>
  (await gw.db.owner.query("select attempts from app_private.attempt_counters where key = $1", [key])).rows[0]?.attempts;

describe("password guessing", () => {
  it("checks only 5 of 25 parallel guesses for one e-mail; the right password then gets 429 with Retry-After", async () => {
    const victim = await newVictim();
    const address = newAddress();
    const guesses = await Promise.all(Array.from({ length: 25 }, (_, i) => login(victim.email, `wrong guess ${i}`, address)));
    expect(tally(guesses.map((r) => r.status))).toEqual({ 401: 5, 429: 20 });
    for (const refused of guesses.filter((r) => r.status === 429)) {
      expect(refused.body.code).toBe("TOO_MANY_ATTEMPTS");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(800);
    }
    const right = await login(victim.email, PASSWORD, address);
    expect(right).toMatchObject({ status: 429, body: { code: "TOO_MANY_ATTEMPTS" } });
    expect(Number(right.headers.get("retry-after"))).toBeGreaterThan(800);
    expect(await attemptsOf(`login-email:${victim.email}`)).toBe(5);
    record(
      "25 parallel password guesses for one e-mail, then the right password",
      26,
      "5 checked (401), 20 refused before bcrypt (429, Retry-After); the right password 429 too",
    );
  });

  it("answers GraphQL guesses beyond the limit as REST does: HTTP 429 with Retry-After, code TOO_MANY_ATTEMPTS", async () => {
    const victim = await newVictim();
    const guesses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        http(gw.url, "POST", "/graphql", {
          body: {
            query: "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            variables: { i: { email: victim.email, password: `wrong ${i}` } },
          },
          headers: from(newAddress()),
        }),
      ),
    );
    const refused = guesses.filter((r) => r.body.errors?.[0]?.extensions?.code === "TOO_MANY_ATTEMPTS");
    expect(refused).toHaveLength(7);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(800);
    }
    expect(guesses.filter((r) => r.status === 200).map((r) => r.body.errors?.[0]?.extensions?.code)).toEqual(
      Array(5).fill("INVALID_CREDENTIALS"),
    );
    record(
      "12 parallel GraphQL password guesses for one e-mail from 12 addresses",
      12,
      "5 checked (INVALID_CREDENTIALS), 7 refused before bcrypt with HTTP 429, Retry-After and code TOO_MANY_ATTEMPTS (as REST)",
    );
  });

  it("counts every case variant of the e-mail under one counter", async () => {
    const victim = await newVictim();
    const [local, domain] = victim.email.split("@") as [string, string];
    const variants = [
      victim.email.toUpperCase(),
      `${local}@${domain.toUpperCase()}`,
      `${local[0].toUpperCase()}${local.slice(1)}@${domain}`,
    ];
    const guesses = await Promise.all(Array.from({ length: 12 }, (_, i) => login(variants[i % 3], `wrong guess ${i}`, newAddress())));
    expect(tally(guesses.map((r) => r.status))).toEqual({ 401: 5, 429: 7 });
    expect((await login(victim.email, PASSWORD, newAddress())).status).toBe(429);
    record(
      "12 parallel guesses under case variants of one e-mail, from 12 addresses",
      13,
      "one counter: 5 checked, 7 × 429; then the right password 429",
    );
  });

  it("gives a botnet (one address per guess) no more than 5 guesses per e-mail", async () => {
    const victim = await newVictim();
    const guesses = await Promise.all(Array.from({ length: 30 }, (_, i) => login(victim.email, `wrong guess ${i}`, newAddress())));
    expect(tally(guesses.map((r) => r.status))).toEqual({ 401: 5, 429: 25 });
    record("30 parallel guesses for one e-mail from 30 addresses", 30, "5 checked, 25 × 429");
  });

  it("never locks the owner out of an address they signed in from: a botnet spends only the e-mail's shared guesses", async () => {
    const owner = await newVictim();
    const home = newAddress();
    expect((await login(owner.email, PASSWORD, home)).status).toBe(200);
    const botnet = await Promise.all(Array.from({ length: 30 }, (_, i) => login(owner.email, `wrong guess ${i}`, newAddress())));
    expect(tally(botnet.map((r) => r.status))).toEqual({ 401: 5, 429: 25 });
    const owners = await Promise.all(Array.from({ length: 3 }, () => login(owner.email, PASSWORD, home)));
    expect(owners.map((r) => r.status)).toEqual([200, 200, 200]);
    // The known address's own count is as strict: 25 parallel guesses from it, 5 checked.
    const fromHome = await Promise.all(Array.from({ length: 25 }, (_, i) => login(owner.email, `guess at home ${i}`, home)));
    expect(tally(fromHome.map((r) => r.status))).toEqual({ 401: 5, 429: 20 });
    expect(await attemptsOf(`login-email:${owner.email}`)).toBe(5);
    record(
      "30 parallel guesses for one e-mail from 30 addresses, then its owner from the address they signed in from before",
      58,
      "botnet: 5 checked, 25 × 429; the owner signs in (3 × 200); 25 parallel guesses from the owner's address: 5 checked, 20 × 429",
    );
  });

  it("forgets an account's known addresses when its password changes", async () => {
    const owner = await newVictim();
    const home = newAddress();
    const signedIn = await login(owner.email, PASSWORD, home);
    const changed = await http(gw.url, "POST", "/api/auth/change-password", {
      token: signedIn.body.access_token,
      body: { current_password: PASSWORD, new_password: "a new password" },
      headers: from(home),
    });
    expect(changed.status).toBe(204);
    await Promise.all(Array.from({ length: 5 }, (_, i) => login(owner.email, `wrong guess ${i}`, newAddress())));
    expect((await login(owner.email, "a new password", home)).status).toBe(429);
    record(
      "an address that signed in, after the account's password changed, while the e-mail's shared guesses are spent",
      7,
      "known no more (it proved the old password): 429 like any other address",
    );
  });

  it("checks only 50 of 70 parallel logins from one address across 70 e-mails", async () => {
    const address = newAddress();
    const sprayed = await Promise.all(
      Array.from({ length: 70 }, (_, i) => login(`sprayed${i}@throttle.test`, "password spraying", address)),
    );
    expect(tally(sprayed.map((r) => r.status))).toEqual({ 401: 50, 429: 20 });
    record("password spraying: 70 parallel logins from one address to 70 e-mails", 70, "50 checked, 20 × 429");
  });

  it("does not punish an office address for its successful logins, and a success gives back only its own attempt", async () => {
    const colleague = await newVictim();
    const office = newAddress();
    for (let round = 0; round < 3; round++) {
      const logins = await Promise.all(Array.from({ length: 5 }, () => login(colleague.email, PASSWORD, office)));
      expect(logins.map((r) => r.status)).toEqual(Array(5).fill(200));
    }
    for (let i = 0; i < 50; i++) expect((await login(colleague.email, PASSWORD, office)).status).toBe(200);
    expect(await attemptsOf(`login-address:${office}`)).toBe(0);

    // An attacker with an account of their own cannot launder failures with successes.
    const failures = await Promise.all(Array.from({ length: 49 }, (_, i) => login(`nobody${i}@office.test`, "a guess", office)));
    expect(failures.every((r) => r.status === 401)).toBe(true);
    expect((await login(colleague.email, PASSWORD, office)).status).toBe(200);
    expect((await login("nobody-else@office.test", "a guess", office)).status).toBe(401);
    expect((await login(colleague.email, PASSWORD, office)).status).toBe(429);
    record(
      "65 successful logins from one office address, then 50 failures laundered with a success",
      117,
      "successes never count against the address; a success refunds only its own attempt: the 51st attempt 429",
    );
  });
});

it("ignores a spoofed X-Forwarded-For when no proxy is trusted: 60 logins with 60 forged addresses count as one address", async () => {
  const direct = await startTestGateway({ LOGIN_MAX_ATTEMPTS_PER_ADDRESS: "50" });
  try {
    const forged = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        http(direct.url, "POST", "/api/auth/login", {
          body: { email: `forged${i}@throttle.test`, password: "a guess" },
          headers: { "x-forwarded-for": `203.0.113.${i}` },
        }),
      ),
    );
    expect(tally(forged.map((r) => r.status))).toEqual({ 401: 50, 429: 10 });
  } finally {
    await direct.close();
  }
  record(
    "60 parallel logins, each with a forged X-Forwarded-For, to a server that trusts no proxy",
    60,
    "one address: 50 checked, 10 × 429",
  );
});

describe("bcrypt's 72-byte truncation", () => {
  it("refuses a password longer than 72 bytes before hashing: the right 72 bytes plus anything never sign in", async () => {
    const email = `truncated-${Math.random().toString(36).slice(2)}@throttle.test`;
    const password = "p".repeat(72);
    const address = newAddress();
    expect(
      (await http(gw.url, "POST", "/api/auth/register", { body: { name: "Truncated", email, password }, headers: from(address) })).status,
    ).toBe(201);
    const padded = [`${password}x`, `${password}${"é".repeat(100)}`, `${password}${"y".repeat(900)}`];
    const rest = await Promise.all(padded.map((guess) => login(email, guess, address)));
    const gql = await Promise.all(
      padded.map((guess) =>
        graphql(
          gw.url,
          `
            mutation ($i: LoginInput!) {
              login(input: $i) {
                accessToken
              }
            }
          `,
          { i: { email, password: guess } },
        ),
      ),
    );
    for (const res of rest)
      expect(res).toMatchObject({ status: 422, body: { code: "INVALID_INPUT", detail: "password must be at most 72 bytes" } });
    for (const res of gql) {
      expect(res.body.data?.login ?? null).toBeNull();
      expect(res.body.errors?.[0]?.extensions?.code).toBe("INVALID_INPUT");
    }
    // Refused as input: no guess was counted, none hashed; the real password still signs in.
    expect(await attemptsOf(`login-email:${email}`)).toBeUndefined();
    const signedIn = await login(email, password, address);
    expect(signedIn.status).toBe(200);
    const change = await http(gw.url, "POST", "/api/auth/change-password", {
      token: signedIn.body.access_token,
      body: { current_password: `${password}z`, new_password: "a new password" },
    });
    expect(change).toMatchObject({ status: 422, body: { code: "INVALID_INPUT", detail: "current_password must be at most 72 bytes" } });
    record(
      "sign-in and change-password with the right 72-byte password plus more bytes (REST and GraphQL, in parallel)",
      7,
      "422 INVALID_INPUT before bcrypt, no attempt counted: bcrypt never compares a truncated password",
    );
  });
});

describe("a stolen access token as a password oracle", () => {
  it("checks only 5 of 20 parallel change-password guesses; the right current password then gets 429", async () => {
    const victim = await newVictim();
    const change = (current: string) =>
      http(gw.url, "POST", "/api/auth/change-password", {
        token: victim.token,
        body: { current_password: current, new_password: "attacker's password" },
      });
    const guesses = await Promise.all(Array.from({ length: 20 }, (_, i) => change(`wrong guess ${i}`)));
    expect(tally(guesses.map((r) => r.status))).toEqual({ 403: 5, 429: 15 });
    const right = await change(PASSWORD);
    expect(right).toMatchObject({ status: 429, body: { code: "TOO_MANY_ATTEMPTS" } });
    expect(Number(right.headers.get("retry-after"))).toBeGreaterThan(800);
    expect((await login(victim.email, PASSWORD, newAddress())).status).toBe(200);
    record(
      "20 parallel change-password guesses with a stolen access token, then the right one",
      21,
      "5 checked (403), 15 × 429; the right one 429; the password is unchanged",
    );
  });

  it("counts confirm-password (sudo mode) with change-password: 20 parallel guesses of both, 5 checked; the right one then 429", async () => {
    const victim = await newVictim();
    const guess = (i: number) =>
      i % 2
        ? http(gw.url, "POST", "/api/auth/confirm-password", { token: victim.token, body: { password: `wrong guess ${i}` } })
        : http(gw.url, "POST", "/api/auth/change-password", {
            token: victim.token,
            body: { current_password: `wrong guess ${i}`, new_password: "attacker's password" },
          });
    const guesses = await Promise.all(Array.from({ length: 20 }, (_, i) => guess(i)));
    expect(tally(guesses.map((r) => r.status))).toEqual({ 403: 5, 429: 15 });
    expect(guesses.filter((r) => r.status === 403).every((r) => r.body.code === "INVALID_CREDENTIALS")).toBe(true);
    const right = await http(gw.url, "POST", "/api/auth/confirm-password", { token: victim.token, body: { password: PASSWORD } });
    expect(right).toMatchObject({ status: 429, body: { code: "TOO_MANY_ATTEMPTS" } });
    const { rows } = await gw.db.owner.query("select reauthenticated_until from app_private.sessions where user_id = $1", [victim.id]);
    expect(rows).toEqual([{ reauthenticated_until: null }]);
    record(
      "20 parallel confirm-password and change-password guesses (10 each) with a stolen access token, then the right password",
      21,
      "5 checked (403 INVALID_CREDENTIALS), 15 × 429, the right one 429: no sudo mode opened",
    );
  });
});

describe("registration floods", () => {
  const tenants = async () => (await gw.db.owner.query("select count(*)::int as n from tenants")).rows[0].n as number;

  it("creates 5 tenants of 20 parallel registrations from one address with 20 e-mails", async () => {
    const before = await tenants();
    const address = newAddress();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => register(`flood${i}@register.test`, address)));
    expect(tally(results.map((r) => r.status))).toEqual({ 201: 5, 429: 15 });
    for (const refused of results.filter((r) => r.status === 429)) {
      expect(refused.body.code).toBe("TOO_MANY_ATTEMPTS");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(3000);
    }
    expect(await tenants()).toBe(before + 5);
    record("20 parallel registrations from one address with 20 e-mails", 20, "5 tenants (201), 15 × 429 with Retry-After");
  });

  it("reserves 2 registrations of one e-mail (case variants) from 20 addresses: one tenant", async () => {
    const email = "taken@register.test";
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => register(i % 2 ? email.toUpperCase() : email, newAddress())));
    expect(tally(results.map((r) => r.status))).toEqual({ 201: 1, 400: 1, 429: 18 });
    expect((await gw.db.owner.query("select count(*)::int as n from tenants where lower(email) = $1", [email])).rows[0].n).toBe(1);
    record(
      "20 parallel registrations of one e-mail in case variants from 20 addresses",
      20,
      "2 reserved: one tenant (201), one EMAIL_TAKEN, 18 × 429 before bcrypt",
    );
  });
});

it("keeps the throttle table bounded: counters whose window ended are deleted as attempts come", async () => {
  await gw.db.owner.query(`insert into app_private.attempt_counters (key, window_ends_at, attempts)
    select 'login-email:old' || i || '@spray.test', now() - interval '1 second', 1 from generate_series(1, 300) i`);
  const address = newAddress();
  await Promise.all(Array.from({ length: 25 }, (_, i) => login(`new${i}@spray.test`, "a guess", address)));
  const { rows } = await gw.db.owner.query("select count(*)::int as n from app_private.attempt_counters where window_ends_at <= now()");
  expect(rows[0].n).toBe(0);
  record("an e-mail spray leaving 300 expired counters behind", 25, "every expired counter deleted by the next 25 attempts");
});

describe("bcrypt as a lever", () => {
  /** One hash at a time, three waiting, cost 10 (tens of milliseconds a hash). */
  let line: TestGateway;
  beforeAll(async () => {
    line = await startTestGateway({ BCRYPT_COST: "10", BCRYPT_CONCURRENCY: "1", BCRYPT_QUEUE_LIMIT: "3" });
  });
  afterAll(() => line.close());

  it("refuses logins beyond the bcrypt line at once with 503 BUSY and Retry-After; the server stays responsive", async () => {
    const flood = Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        http(line.url, "POST", "/api/auth/login", { body: { email: `flood${i}@busy.test`, password: "a guess" } }),
      ),
    );
    const gqlFlood = Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        graphql(line.url, "mutation($i: LoginInput!) { login(input: $i) { accessToken } }", {
          i: { email: `gql${i}@busy.test`, password: "a guess" },
        }),
      ),
    );
    const started = Date.now();
    expect((await http(line.url, "GET", "/health")).status).toBe(200);
    const healthMs = Date.now() - started;
    const [rest, gql] = [await flood, await gqlFlood];
    const statuses = tally(rest.map((r) => r.status));
    expect(Object.keys(statuses).sort()).toEqual(["401", "503"]);
    expect(statuses[503]).toBeGreaterThan(30);
    for (const busy of rest.filter((r) => r.status === 503)) {
      expect(busy.body).toEqual({ detail: "The server is busy; retry in 1 second", code: "BUSY" });
      expect(busy.headers.get("retry-after")).toBe("1");
    }
    const gqlCodes = tally(gql.map((r) => r.body.errors?.[0]?.extensions?.code));
    expect(Object.keys(gqlCodes).every((code) => code === "BUSY" || code === "INVALID_CREDENTIALS")).toBe(true);
    expect(gqlCodes.BUSY).toBeGreaterThan(0);
    // A GraphQL refusal carries REST's HTTP status and Retry-After, not 200.
    for (const busy of gql.filter((r) => r.body.errors?.[0]?.extensions?.code === "BUSY")) {
      expect(busy.status).toBe(503);
      expect(busy.headers.get("retry-after")).toBe("1");
    }
    expect(healthMs).toBeLessThan(2000); // the flood's 60 hashes in line would take several seconds
    record(
      "80 parallel anonymous logins (REST and GraphQL) against a bcrypt line of 1 running + 3 waiting",
      80,
      "beyond the line 503 BUSY with Retry-After: 1 at once, REST and GraphQL alike (code BUSY), the rest checked (401); /health under 2 s",
    );
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, http, restLogin, signUp, startTestGateway, tally, type TestGateway } from "../helpers/gateway.ts";
import { linkOf, mailSettings, plantToken, startMailbox, type Mailbox } from "../helpers/mail.ts";
import { recordAttack } from "./recorder.ts";

const record = (category: string, attack: string, attempts: number, result: string) =>
  recordAttack(import.meta.filename, category, attack, attempts, result);

/** Limits at their defaults: 3 messages per e-mail and 20 per client address an hour, 20 token uses per address. */
let mailbox: Mailbox;
let gw: TestGateway;
beforeAll(async () => {
  mailbox = await startMailbox();
  gw = await startTestGateway({ ...mailSettings(mailbox), TRUST_PROXY: "loopback" });
});
afterAll(async () => {
  await gw.close();
  await mailbox.close();
});

let lastAddress = 0;
const newAddress = () => ({ "x-forwarded-for": `203.0.113.${++lastAddress}` });
const reset = (token: string, password = "an attacker's password", headers = newAddress()) =>
  http(gw.url, "POST", "/api/auth/reset-password", { body: { token, new_password: password }, headers });
const forgot = (email: string, headers = newAddress()) => http(gw.url, "POST", "/api/auth/forgot-password", { body: { email }, headers });
const login = (email: string, password: string) => restLogin(gw.url, email, password, newAddress());

/** A shop whose verification message arrived (so later messages to it are the test's own). */
async function shop(name: string) {
  const signedUp = await signUp(gw.url, name);
  await mailbox.next(signedUp.email);
  return signedUp;
}

describe("e-mailed tokens", () => {
  it("refuses a used reset token", async () => {
    const victim = await shop("Used Link");
    await forgot(victim.email);
    const { token } = linkOf(await mailbox.next(victim.email), "/reset-password");
    expect((await reset(token, "the owner's new password")).status).toBe(204);
    const again = await reset(token);
    expect([again.status, again.body.code]).toEqual([400, "TOKEN_USED"]);
    expect((await login(victim.email, "an attacker's password")).status).toBe(401);
    record("e-mailed tokens", "reset password again with a reset link already used", 1, "400 TOKEN_USED, password unchanged");
  });

  it("refuses an expired token", async () => {
    const victim = await shop("Old Link");
    const expired = await plantToken(gw.db.owner, victim.user.id, "reset_password", { expiresIn: "-1 second" });
    const res = await reset(expired);
    expect([res.status, res.body.code]).toEqual([400, "TOKEN_EXPIRED"]);
    expect((await login(victim.email, victim.password)).status).toBe(200);
    record("e-mailed tokens", "reset password with a reset token past its hour", 1, "400 TOKEN_EXPIRED, password unchanged");
  });

  it("refuses a token of another purpose", async () => {
    const victim = await shop("Wrong Purpose");
    const verification = await plantToken(gw.db.owner, victim.user.id, "verify_email");
    const res = await reset(verification);
    expect([res.status, res.body.code]).toEqual([400, "TOKEN_INVALID"]);
    expect((await login(victim.email, victim.password)).status).toBe(200);
    const resetToken = await plantToken(gw.db.owner, victim.user.id, "reset_password");
    const asVerification = await http(gw.url, "POST", "/api/auth/verify-email", { body: { token: resetToken }, headers: newAddress() });
    expect([asVerification.status, asVerification.body.code]).toEqual([400, "TOKEN_INVALID"]);
    record(
      "e-mailed tokens",
      "a verification token used to reset a password, a reset token to verify",
      2,
      "400 TOKEN_INVALID, nothing changed",
    );
  });

  it("lets exactly one of 10 parallel resets with one token through", async () => {
    const victim = await shop("Racing Link");
    await forgot(victim.email);
    const { token } = linkOf(await mailbox.next(victim.email), "/reset-password");
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => reset(token, `parallel password ${i}`)));
    expect(tally(results.map((r) => r.body?.code ?? r.status))).toEqual({ 204: 1, TOKEN_USED: 9 });
    const winner = results.findIndex((r) => r.status === 204);
    expect((await login(victim.email, `parallel password ${winner}`)).status).toBe(200);
    record("e-mailed tokens", "10 parallel password resets with one reset token", 10, "1 × 204, 9 × 400 TOKEN_USED");
  });

  it("refuses guessed tokens, and throttles guessing per client address", async () => {
    const headers = newAddress();
    const guesses = await Promise.all(Array.from({ length: 25 }, () => reset("A".repeat(43), "a guessed password", headers)));
    expect(tally(guesses.map((r) => r.body.code))).toEqual({ TOKEN_INVALID: 20, TOO_MANY_ATTEMPTS: 5 });
    expect(guesses.find((r) => r.status === 429)!.headers.get("retry-after")).toMatch(/^\d+$/);
    record("e-mailed tokens", "25 guessed reset tokens from one address", 25, "20 × 400 TOKEN_INVALID, then 5 × 429");
  });

  it("ends the reset user's sessions: the attacker's stolen tokens die with them", async () => {
    const victim = await shop("Stolen Session");
    await forgot(victim.email);
    expect((await reset(linkOf(await mailbox.next(victim.email), "/reset-password").token, "the owner's new password")).status).toBe(204);
    expect((await http(gw.url, "GET", "/api/auth/session", { token: victim.access_token })).status).toBe(401);
    expect((await http(gw.url, "POST", "/api/auth/refresh", { body: { refresh_token: victim.refresh_token } })).status).toBe(401);
    record("e-mailed tokens", "use a stolen access and refresh token after the owner reset the password", 2, "401 both");
  });
});

describe("links do not outlive what should end them", () => {
  it("refuses a reset link issued before a password change", async () => {
    const victim = await shop("Changed Meanwhile");
    await forgot(victim.email);
    const { token } = linkOf(await mailbox.next(victim.email), "/reset-password");
    const changed = await http(gw.url, "POST", "/api/auth/change-password", {
      token: victim.access_token,
      body: { current_password: victim.password, new_password: "the owner's new password" },
    });
    expect(changed.status).toBe(204);
    expect((await reset(token)).body.code).toBe("TOKEN_INVALID");
    expect((await login(victim.email, "the owner's new password")).status).toBe(200);
    record("e-mailed tokens", "a reset link issued before the owner changed the password", 1, "400 TOKEN_INVALID, password unchanged");
  });

  it("refuses the other outstanding links once one reset link was used", async () => {
    const victim = await shop("Two Links");
    await forgot(victim.email);
    const first = linkOf(await mailbox.next(victim.email), "/reset-password").token;
    await forgot(victim.email);
    const second = linkOf(await mailbox.next(victim.email), "/reset-password").token;
    const verification = await plantToken(gw.db.owner, victim.user.id, "verify_email");
    expect((await reset(second, "the owner's new password")).status).toBe(204);
    expect((await reset(first)).body.code).toBe("TOKEN_INVALID");
    const verify = await http(gw.url, "POST", "/api/auth/verify-email", { body: { token: verification }, headers: newAddress() });
    expect(verify.body.code).toBe("TOKEN_INVALID");
    record("e-mailed tokens", "an older reset link and a verification link used after another reset link", 2, "400 TOKEN_INVALID both");
  });
});

describe("a stolen access token is not a takeover", () => {
  it("cannot change the address without the password", async () => {
    const victim = await shop("Stolen Token");
    const thief = (body: Record<string, unknown>) => http(gw.url, "POST", "/api/auth/change-email", { token: victim.access_token, body });
    expect((await thief({ new_email: "thief@evil.test" })).body.code).toBe("INVALID_INPUT");
    const guesses = await Promise.all(
      Array.from({ length: 8 }, (_, i) => thief({ new_email: "thief@evil.test", current_password: `guess number ${i}` })),
    );
    expect(tally(guesses.map((r) => r.body.code))).toEqual({ INVALID_CREDENTIALS: 5, TOO_MANY_ATTEMPTS: 3 });
    expect(mailbox.to("thief@evil.test")).toEqual([]);
    record(
      "account takeover",
      "change-email with a stolen access token: no password, then 8 parallel guesses",
      9,
      "422 INVALID_INPUT, 5 × 403, 3 × 429; nothing mailed",
    );
  });

  it("cannot complete a change the owner's reset came after, nor one the old address did not confirm", async () => {
    const victim = await shop("Phished Owner"); // the thief knows the password too
    await http(gw.url, "POST", "/api/auth/change-email", {
      token: victim.access_token,
      body: { new_email: "phisher@evil.test", current_password: victim.password },
    });
    const thiefLink = linkOf(await mailbox.next("phisher@evil.test"), "/confirm-email-change").token;
    await mailbox.next(victim.email); // the old address is asked too: the owner does not confirm
    const confirmed = await http(gw.url, "POST", "/api/auth/confirm-email-change", { body: { token: thiefLink }, headers: newAddress() });
    expect(confirmed.body.changed).toBe(false);
    await forgot(victim.email);
    expect((await reset(linkOf(await mailbox.next(victim.email), "/reset-password").token, "the owner's new password")).status).toBe(204);
    const again = await http(gw.url, "POST", "/api/auth/confirm-email-change", { body: { token: thiefLink }, headers: newAddress() });
    expect(again.body.code).toBe("TOKEN_INVALID");
    expect(
      (await gw.db.owner.query("select count(*)::int as n from app_private.email_changes where user_id = $1", [victim.user.id])).rows[0].n,
    ).toBe(0);
    expect((await forgot("phisher@evil.test")).status).toBe(202);
    expect((await login(victim.email, "the owner's new password")).status).toBe(200);
    record(
      "account takeover",
      "a thief with the password confirms a change to their address; the owner resets the password",
      2,
      "the change waits for the old address, then is dropped by the reset; the address stays the owner's",
    );
  });
});

describe("addresses are bare", () => {
  it("refuses an address in display-name form, with a comment or a route, at registration and in SQL", async () => {
    const forms = [
      "a@example.com<postmaster>",
      "Lou <lou@example.com>",
      "lou@example.com (comment)",
      "@route:lou@example.com",
      '"lou"@example.com',
      "lou@[127.0.0.1]",
    ];
    const answers = await Promise.all(
      forms.map((email) =>
        http(gw.url, "POST", "/api/auth/register", {
          body: { name: "Bracket Shop", email, password: "a long password" },
          headers: newAddress(),
        }),
      ),
    );
    expect(answers.map((r) => r.body.code)).toEqual(forms.map(() => "INVALID_INPUT"));
    const { rows } = await gw.db.owner.query("select bool_or(app_private.is_email_address(f)) as any from unnest($1::text[]) f", [forms]);
    expect(rows[0].any).toBe(false);
    record(
      "addresses",
      "register with an address in display-name form, with a comment, a route, a quoted local part or a literal domain",
      forms.length,
      "422 INVALID_INPUT each; SQL refuses them too",
    );
  });
});

describe("mail requests: no enumeration, no amplification", () => {
  it("allows one mail or token mutation per GraphQL request", async () => {
    const twice = await graphql(
      gw.url,
      `
        mutation {
          a: forgotPassword(input: { email: "a@example.test" }) {
            success
          }
          b: resendVerificationEmail(input: { email: "b@example.test" }) {
            success
          }
        }
      `,
    );
    expect([twice.status, twice.body.errors?.[0]?.extensions?.code]).toEqual([400, "TOO_MANY_OPERATIONS"]);
    record(
      "mail throttling",
      "forgotPassword and resendVerificationEmail in one GraphQL document",
      1,
      "400 TOO_MANY_OPERATIONS, nothing sent",
    );
  });

  it("throttles messages per e-mail and per client address", async () => {
    const victim = await shop("Flooded Inbox");
    const floods = await Promise.all(Array.from({ length: 10 }, () => forgot(victim.email)));
    expect(tally(floods.map((r) => r.status))).toEqual({ 202: 3, 429: 7 });
    const headers = newAddress();
    const spray = await Promise.all(Array.from({ length: 25 }, (_, i) => forgot(`sprayed-${i}@example.test`, headers)));
    expect(tally(spray.map((r) => r.status))).toEqual({ 202: 20, 429: 5 });
    record("mail throttling", "10 parallel forgot-password requests for one address, from 10 client addresses", 10, "3 × 202, 7 × 429");
    record("mail throttling", "forgot-password for 25 addresses from one client address", 25, "20 × 202, 5 × 429");
  });
});

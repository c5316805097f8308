import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, http, signUp, startTestGateway, tally, type TestGateway } from "../helpers/gateway.ts";
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
const login = (email: string, password: string) => http(gw.url, "POST", "/api/auth/login", { body: { email, password }, headers: newAddress() });

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
    record("e-mailed tokens", "a verification token used to reset a password, a reset token to verify", 2, "400 TOKEN_INVALID, nothing changed");
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

describe("mail requests: no enumeration, no amplification", () => {
  it("answers forgot-password the same, in about the same time, for a known and an unknown address", async () => {
    const known = await shop("Known Address");
    const timed = async (email: string) => {
      const started = performance.now();
      const res = await forgot(email);
      return { ms: performance.now() - started, answer: [res.status, res.body] };
    };
    const knownRuns = [];
    const unknownRuns = [];
    for (let i = 0; i < 3; i++) { // 3: the limit per e-mail
      knownRuns.push(await timed(known.email));
      unknownRuns.push(await timed(`nobody-${i}@example.test`));
    }
    expect(new Set([...knownRuns, ...unknownRuns].map((r) => JSON.stringify(r.answer)))).toEqual(
      new Set([JSON.stringify([202, { detail: "If an account fits this address, a message is on its way" }])]));
    const median = (runs: { ms: number }[]) => runs.map((r) => r.ms).sort((a, b) => a - b)[1]!;
    expect(Math.abs(median(knownRuns) - median(unknownRuns))).toBeLessThan(50);
    record("enumeration", "forgot-password for a registered and an unregistered address", 6, "same 202 body, medians within 50 ms");
  });

  it("allows one mail or token mutation per GraphQL request", async () => {
    const twice = await graphql(gw.url, `mutation {
      a: forgotPassword(input: { email: "a@example.test" }) { success }
      b: resendVerificationEmail(input: { email: "b@example.test" }) { success } }`);
    expect([twice.status, twice.body.errors?.[0]?.extensions?.code]).toEqual([400, "TOO_MANY_OPERATIONS"]);
    record("mail throttling", "forgotPassword and resendVerificationEmail in one GraphQL document", 1, "400 TOO_MANY_OPERATIONS, nothing sent");
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

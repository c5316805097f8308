import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { alternatingTimings, rankSumZ } from "../helpers/rank-test.ts";
import { recordAttack } from "./recorder.ts";

/**
 * Time tells nothing the answer hides: the routes that mail (or not) an address answer in the same
 * time whether or not an account fits. Measured the way an attacker does (they used 60 + 60): 100 + 100 requests
 * alternating between a known and an unknown address, compared by a rank test (a benchmark-style
 * check: ranks within one run, robust to a busy machine; |z| < 4 where the attacker saw 6 to 8).
 * Two controls show the check can fail: the rank test on fixed samples, and a live run where one
 * side does a few milliseconds more (as much as a busy machine lets a live control be sure of).
 */

const PAIRS = 100;
const MAX_Z = 4;
const MAIL_LIMITS = { MAIL_REQUESTS_PER_EMAIL: "1000000", MAIL_REQUESTS_PER_ADDRESS: "1000000", CHANGE_PASSWORD_MAX_FAILURES: "1000000" };

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway(MAIL_LIMITS);
});
afterAll(() => gw.close());

const post = (path: string, body: Record<string, unknown>, token?: string) =>
  http(gw.url, "POST", path, { body, ...(token ? { token } : {}) });
const record = (attack: string) =>
  recordAttack(import.meta.filename, "enumeration", attack, 2 * PAIRS, `same 202 body; times alike (rank test |z| < ${MAX_Z})`);
/** STOFLOW_SHOW_TIMINGS=1 prints each measurement (z and medians), for a report. */
const show = (what: string, result: { z: number; medians: { yes: number; no: number } }) =>
  process.env.STOFLOW_SHOW_TIMINGS && console.info(what, JSON.stringify(result));

describe("mail requests take the same time whether or not an account fits", () => {
  it("(control) the rank test tells apart samples shifted by a third of their spread, and not a sample from itself", () => {
    const base = Array.from({ length: PAIRS }, (_, i) => 5 + (i % 10) / 10 + Math.floor(i / 10) / 100);
    expect(
      rankSumZ(
        base.map((t) => t + 0.33),
        base,
      ),
    ).toBeGreaterThan(MAX_Z);
    expect(rankSumZ(base, [...base].reverse())).toBe(0);
  });

  it("(control) the live measurement sees 5 ms more on one side", async () => {
    const timings = await alternatingTimings(async (slower) => {
      await post("/api/auth/forgot-password", { email: "nobody-control@example.test" });
      if (slower) await new Promise((resolve) => setTimeout(resolve, 5));
    }, PAIRS);
    show("control", timings);
    expect(timings.z).toBeGreaterThan(MAX_Z);
  });

  for (const [route, name] of [
    ["/api/auth/forgot-password", "forgot-password"],
    ["/api/auth/resend-verification", "resend-verification"],
  ] as const) {
    it(`${name}: a registered (unverified) address and an unknown one`, async () => {
      const known = await signUp(gw.url, `Timed ${name}`);
      const answers = new Set<string>();
      const timings = await alternatingTimings(async (registered) => {
        const res = await post(route, { email: registered ? known.email : `nobody-${name}@example.test` });
        answers.add(`${res.status} ${JSON.stringify(res.body)}`);
      }, PAIRS);
      expect([...answers]).toEqual([`202 {"detail":"If an account fits this address, a message is on its way"}`]);
      show(name, timings);
      expect(Math.abs(timings.z)).toBeLessThan(MAX_Z);
      record(`${name} for a registered and an unknown address, ${PAIRS} + ${PAIRS} alternating requests`);
    });
  }

  it("change-email: a new address another account has and a free one", async () => {
    const mover = await signUp(gw.url, "Timed Mover");
    const taken = await signUp(gw.url, "Taken Address");
    const answers = new Set<string>();
    const timings = await alternatingTimings(async (isTaken) => {
      const res = await post(
        "/api/auth/change-email",
        { new_email: isTaken ? taken.email : "free-address@example.test", current_password: mover.password },
        mover.access_token,
      );
      answers.add(`${res.status} ${JSON.stringify(res.body)}`);
    }, PAIRS);
    expect([...answers]).toEqual([`202 {"detail":"If an account fits this address, a message is on its way"}`]);
    show("change-email", timings);
    expect(Math.abs(timings.z)).toBeLessThan(MAX_Z);
    record(`change-email to an address another account has and to a free one, ${PAIRS} + ${PAIRS} alternating requests`);
  });
});

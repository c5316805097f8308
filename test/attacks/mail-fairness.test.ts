import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { mailSettings, startMailbox, type Mailbox } from "../helpers/mail.ts";
import { recordAttack } from "./recorder.ts";

/**
 * One tenant's burst of invitations does not delay another tenant's mail: account mail goes
 * first (graphile-worker priorities), and each tenant's invitations run in a named queue of their
 * own (one at a time), so a burst holds one worker while others serve the rest. The relay here
 * takes 40 ms a message, so that a backlog shows as it would with a real one.
 */

const BURST = 80;
const RELAY_MS = 40;
let mailbox: Mailbox;
let gw: TestGateway;
beforeAll(async () => {
  mailbox = await startMailbox({ delayMs: RELAY_MS });
  gw = await startTestGateway({
    ...mailSettings(mailbox), JOBS_CONCURRENCY: "2",
    INVITATIONS_PER_INVITER_PER_HOUR: "1000000", INVITATIONS_PER_TENANT_PER_HOUR: "1000000",
  });
});
afterAll(async () => {
  await gw.close();
  await mailbox.close();
});

const pendingJobs = async () => (await gw.db.owner.query("select count(*)::int as n from graphile_worker.jobs")).rows[0].n as number;

describe("mail is fair across tenants", () => {
  it("sends another tenant's reset and invitation ahead of one tenant's backlog of invitations", async () => {
    const bulk = await signUp(gw.url, "Bulk Inviter");
    const other = await signUp(gw.url, "Quiet Neighbour");
    await mailbox.next(bulk.email);
    await mailbox.next(other.email);
    const invitees = Array.from({ length: BURST }, (_, i) => `bulk-${process.pid}-${i}@burst.test`);
    const answers = await Promise.all(invitees.map((email) => http(gw.url, "POST", "/api/auth/invitations", { token: bulk.access_token, body: { email } })));
    expect(answers.every((r) => r.status === 201)).toBe(true);
    const backlog = await pendingJobs();
    expect(backlog).toBeGreaterThan(BURST / 2); // the relay is behind: a real backlog

    const from = mailbox.received.length;
    const neighbourInvitee = `neighbour-${process.pid}@burst.test`;
    await http(gw.url, "POST", "/api/auth/forgot-password", { body: { email: other.email } });
    await http(gw.url, "POST", "/api/auth/invitations", { token: other.access_token, body: { email: neighbourInvitee } });
    const reset = await mailbox.next(other.email);
    const invitation = await mailbox.next(neighbourInvitee);
    const burstBefore = (mail: typeof reset) =>
      mailbox.received.slice(from, mailbox.received.indexOf(mail)).filter((m) => JSON.stringify(m.to).includes("@burst.test") && JSON.stringify(m.to).includes("bulk-")).length;
    // At most the messages already on their way when the neighbour asked (one per worker).
    expect(burstBefore(reset)).toBeLessThanOrEqual(2);
    expect(burstBefore(invitation)).toBeLessThanOrEqual(3);
    expect(await pendingJobs()).toBeGreaterThan(BURST / 4); // the burst was still being sent
    recordAttack(import.meta.filename, "mail fairness", `a tenant queues ${BURST} invitations (a relay at ${RELAY_MS} ms a message); another tenant then asks for a reset and invites`, BURST + 2,
      "the reset and the invitation are sent next, behind at most the 2 messages already in the relay");
  });
});

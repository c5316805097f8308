import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { mailSettings, startMailbox, startMailWorker, type Mailbox } from "../helpers/mail.ts";
import { until } from "../helpers/until.ts";
import { attackRecorder, recordAttack } from "./recorder.ts";

/**
 * One tenant's burst of invitations does not delay another tenant's mail: account mail goes
 * first (graphile-worker priorities), and each tenant's invitations run in a named queue of their
 * own (one at a time), so a burst holds one worker while others serve the rest. The relay here
 * takes 40 ms a message, so that a backlog shows as it would with a real one.
 */

const record = attackRecorder(import.meta.filename, "mail fairness");

const BURST = 80;
const RELAY_MS = 40;
let mailbox: Mailbox;
let gw: TestGateway;
beforeAll(async () => {
  mailbox = await startMailbox({ delayMs: RELAY_MS });
  gw = await startTestGateway({
    ...mailSettings(mailbox),
    JOBS_CONCURRENCY: "2",
    INVITATIONS_PER_INVITER_PER_HOUR: "1000000",
    INVITATIONS_PER_TENANT_PER_HOUR: "1000000",
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
    const answers = await Promise.all(
      invitees.map((email) => http(gw.url, "POST", "/api/auth/invitations", { token: bulk.access_token, body: { email } })),
    );
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
      mailbox.received
        .slice(from, mailbox.received.indexOf(mail))
        .filter((m) => JSON.stringify(m.to).includes("@burst.test") && JSON.stringify(m.to).includes("bulk-")).length;
    // At most the messages already on their way when the neighbour asked (one per worker).
    expect(burstBefore(reset)).toBeLessThanOrEqual(2);
    expect(burstBefore(invitation)).toBeLessThanOrEqual(3);
    expect(await pendingJobs()).toBeGreaterThan(BURST / 4); // the burst was still being sent
    recordAttack(
      import.meta.filename,
      "mail fairness",
      `a tenant queues ${BURST} invitations (a relay at ${RELAY_MS} ms a message); another tenant then asks for a reset and invites`,
      BURST + 2,
      "the reset and the invitation are sent next, behind at most the 2 messages already in the relay",
    );
  });
});

/**
 * Fair between senders: a client address's requests queue at a priority that grows with its
 * requests in the window (its first at 0, its tenth and later at 9), and a tenant's invitations
 * at 10 plus its invitations in the window (graphile-worker runs the lowest first). A flood is
 * queued while no worker runs, then a worker starts: what matters is how many of the flood's jobs
 * run before the victim's message, not how long that takes on this machine.
 */
describe("mail is fair between senders", () => {
  let queue: TestGateway;
  let box: Mailbox;
  beforeAll(async () => {
    box = await startMailbox();
    queue = await startTestGateway({
      TRUST_PROXY: "loopback",
      MAIL_REQUESTS_PER_ADDRESS: "1000000",
      INVITATIONS_PER_INVITER_PER_HOUR: "1000000",
      INVITATIONS_PER_TENANT_PER_HOUR: "1000000",
    });
  });
  afterAll(async () => {
    await queue.close();
    await box.close();
  });

  const jobs = async () => (await queue.db.owner.query("select count(*)::int as n from graphile_worker.jobs")).rows[0].n as number;
  /** Starts a worker and waits for `arrived`; returns the jobs left then (the flood's not yet run). */
  async function jobsLeftWhen(arrived: () => boolean): Promise<number> {
    const worker = await startMailWorker(queue, box, { JOBS_CONCURRENCY: "2" });
    try {
      await until("the victim's message", () => arrived(), 60_000);
      return await jobs();
    } finally {
      await worker.stop();
      await queue.db.owner.query("select graphile_worker.complete_jobs(array(select id from graphile_worker.jobs))");
    }
  }

  it("sends a reset ahead of an anonymous flood of resets for unknown addresses from 40 client addresses", async () => {
    const ADDRESSES = 40;
    const victim = await signUp(queue.url, "Flood Victim");
    await Promise.all(
      Array.from({ length: ADDRESSES }, async (_, a) => {
        for (let i = 0; i < 20; i++) {
          await http(queue.url, "POST", "/api/auth/forgot-password", {
            body: { email: `ghost-${a}-${i}@nowhere.test` },
            headers: { "x-forwarded-for": `198.18.0.${a + 1}` },
          });
        }
      }),
    );
    await http(queue.url, "POST", "/api/auth/forgot-password", {
      body: { email: victim.email },
      headers: { "x-forwarded-for": "198.18.1.1" },
    });
    const queued = await jobs();
    expect(queued).toBe(ADDRESSES * 20 + 2); // the flood, the victim's welcome and reset
    const left = await jobsLeftWhen(() => box.to(victim.email).some((mail) => /reset/i.test(mail.subject ?? "")));
    // In the order of arrival it would come last (none left); it comes behind the flood's first request of each address.
    expect(left, `${left} of ${queued} jobs left`).toBeGreaterThan(queued / 2);
    record(
      `${ADDRESSES} client addresses ask for 20 resets each for unknown addresses (${ADDRESSES * 20} jobs queued), then a tenant's user asks for a reset`,
      ADDRESSES * 20 + 1,
      "the user's reset is sent while more than half of the flood is still queued (first in, first out: after all of it): behind about one job per flooding address",
    );
  });

  it("sends a tenant's invitation ahead of 8 other tenants' bursts of 20", async () => {
    const [victim, ...bulk] = await Promise.all(Array.from({ length: 9 }, (_, i) => signUp(queue.url, `Burst Tenant ${i}`)));
    await queue.db.owner.query("select graphile_worker.complete_jobs(array(select id from graphile_worker.jobs))"); // their welcome messages: not the point here
    for (const tenant of bulk) {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          http(queue.url, "POST", "/api/auth/invitations", {
            token: tenant.access_token,
            body: { email: `burst-${tenant.tenant.id}-${i}@burst.test` },
          }),
        ),
      );
    }
    const invitee = `quiet-${process.pid}@fair.test`;
    await http(queue.url, "POST", "/api/auth/invitations", { token: victim!.access_token, body: { email: invitee } });
    const from = box.received.length;
    await jobsLeftWhen(() => box.to(invitee).length > 0);
    const before = box.received.slice(from).findIndex((mail) => JSON.stringify(mail.to).includes(invitee));
    expect(before, `${before} messages before`).toBeLessThanOrEqual(bulk.length + 2); // one per bursting tenant, and what was in flight
    record(
      "8 tenants queue 20 invitations each, then another tenant invites one address",
      161,
      "its invitation is among the first 10 messages sent (first in, first out: the 161st): behind one message per bursting tenant",
    );
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addTeamMember, graphqlOk, http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { deliverQueuedMail, linkOf, startMailbox, type Mailbox } from "../helpers/mail.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "mail after a credential event");

/**
 * The worker mints a message's token when it sends it, which can be long after it was asked for
 * (the attacker slowed the worker with a flood). A message asked for before a credential event
 * must carry nothing after it. The gateway here runs no worker: the test decides when the queued
 * messages are minted and sent (deliverQueuedMail), after the event.
 */
let mailbox: Mailbox;
let gw: TestGateway;
beforeAll(async () => {
  mailbox = await startMailbox();
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.close();
  await mailbox.close();
});

const post = (path: string, body: Record<string, unknown>, token?: string) =>
  http(gw.url, "POST", path, { body, ...(token ? { token } : {}) });
const askForBoth = async (email: string) => {
  expect((await post("/api/auth/forgot-password", { email })).status).toBe(202);
  expect((await post("/api/auth/resend-verification", { email })).status).toBe(202);
};
/** An unverified account whose welcome message was sent already. */
async function account(name: string) {
  const shop = await signUp(gw.url, name);
  await deliverQueuedMail(gw, mailbox);
  await mailbox.next(shop.email);
  return shop;
}

describe("a message asked for before a credential event", () => {
  it("is not sent after a password change", async () => {
    const victim = await account("Changed Before Sent");
    await askForBoth(victim.email);
    expect(
      (
        await post(
          "/api/auth/change-password",
          { current_password: victim.password, new_password: "the owner's new password" },
          victim.access_token,
        )
      ).status,
    ).toBe(204);
    await deliverQueuedMail(gw, mailbox);
    expect(mailbox.to(victim.email)).toHaveLength(1); // the welcome message only
    await post("/api/auth/forgot-password", { email: victim.email });
    await deliverQueuedMail(gw, mailbox);
    const { token } = linkOf(await mailbox.next(victim.email), "/reset-password");
    expect((await post("/api/auth/reset-password", { token, new_password: "reset after the change" })).status).toBe(204);
    record(
      "a reset and a verification asked for, then the password changed before the worker sends them",
      2,
      "neither is sent; a reset asked for after the change is sent and works",
    );
  });

  it("is not sent after the account was deactivated and reactivated", async () => {
    const owner = await signUp(gw.url, "Deactivating Shop");
    const member = await addTeamMember(gw, owner.tenant.id, "user");
    await askForBoth(member.email);
    const setActive = (active: boolean) =>
      graphqlOk(
        gw.url,
        `mutation { updateUser(input: { rowId: ${member.id}, patch: { isActive: ${active} } }) { user { isActive } } }`,
        {},
        owner.access_token,
      );
    await setActive(false);
    await setActive(true);
    await deliverQueuedMail(gw, mailbox);
    expect(mailbox.to(member.email)).toHaveLength(0);
    record(
      "a reset and a verification asked for, then the user deactivated and reactivated before the worker sends them",
      2,
      "neither is sent",
    );
  });

  it("is not sent once another reset link was used: the other reset links die, minted or not", async () => {
    const victim = await account("Two Resets");
    await post("/api/auth/forgot-password", { email: victim.email });
    await deliverQueuedMail(gw, mailbox);
    const first = linkOf(await mailbox.next(victim.email), "/reset-password").token;
    await post("/api/auth/forgot-password", { email: victim.email });
    await deliverQueuedMail(gw, mailbox);
    const second = linkOf(await mailbox.next(victim.email), "/reset-password").token;
    await post("/api/auth/forgot-password", { email: victim.email }); // the third, queued
    expect((await post("/api/auth/reset-password", { token: first, new_password: "the first link's password" })).status).toBe(204);
    await deliverQueuedMail(gw, mailbox);
    expect(mailbox.to(victim.email)).toHaveLength(3); // welcome and two resets: the third was not sent
    const again = await post("/api/auth/reset-password", { token: second, new_password: "the second link's password" });
    expect([again.status, again.body.code]).toEqual([400, "TOKEN_INVALID"]);
    record(
      "three reset links asked for; the first used while the second was in the mailbox and the third still queued",
      3,
      "the second 400 TOKEN_INVALID, the third never sent",
    );
  });
});

describe("a resent invitation", () => {
  it("leaves only the last message's link working", async () => {
    const admin = await signUp(gw.url, "Resending Twice");
    const email = `resent-${process.pid}@toctou.test`;
    const { body } = await post("/api/auth/invitations", { email }, admin.access_token);
    await deliverQueuedMail(gw, mailbox);
    const first = linkOf(await mailbox.next(email), "/accept-invitation").token;
    expect((await http(gw.url, "POST", `/api/auth/invitations/${body.id}/resend`, { token: admin.access_token })).status).toBe(202);
    await deliverQueuedMail(gw, mailbox);
    const second = linkOf(await mailbox.next(email), "/accept-invitation").token;
    const old = await post("/api/auth/accept-invitation", { token: first, password: "an invitee password" });
    expect([old.status, old.body.code]).toEqual([400, "TOKEN_INVALID"]);
    expect((await post("/api/auth/accept-invitation", { token: second, password: "an invitee password" })).status).toBe(200);
    record("accept an invitation with the link of the message before its resend", 1, "400 TOKEN_INVALID; the resent message's link works");
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphqlOk, http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { linkOf, mailSettings, startMailbox, type Mailbox } from "../helpers/mail.ts";

let mailbox: Mailbox;
let gw: TestGateway;
beforeAll(async () => {
  mailbox = await startMailbox();
  gw = await startTestGateway(mailSettings(mailbox));
});
afterAll(async () => {
  await gw.close();
  await mailbox.close();
});

const INVITE = `mutation($i: InviteTeamMemberInput!) { inviteTeamMember(input: $i) { user { rowId email role isVerified } } }`;
const login = (email: string, password: string) => http(gw.url, "POST", "/api/auth/login", { body: { email, password } });

describe("invitations", () => {
  it("an admin invites by e-mail and role; the invitee chooses their password through the link and is signed in", async () => {
    const admin = await signUp(gw.url, "Inviting Shop");
    const email = `invitee-${Date.now()}@team.test`;
    const invited = await graphqlOk(gw.url, INVITE, { i: { email, role: "viewer", fullName: "Ivy Invitee" } }, admin.access_token);
    expect(invited.inviteTeamMember.user).toMatchObject({ email, role: "viewer", isVerified: false });
    expect((await login(email, "any password at all")).status).toBe(401); // no password yet

    const mail = await mailbox.next(email);
    expect(mail.subject).toBe("You are invited to Inviting Shop on Stoflow");
    expect(mail.text).toContain("Hello Ivy Invitee");
    const { token } = linkOf(mail, "/accept-invitation");
    const accepted = await http(gw.url, "POST", "/api/auth/accept-invitation", { body: { token, password: "my own password" } });
    expect(accepted.status).toBe(200);
    expect(accepted.body.user).toMatchObject({ email, role: "viewer", email_verified: true });
    expect(accepted.body.tenant.name).toBe("Inviting Shop");
    expect((await http(gw.url, "GET", "/api/auth/session", { token: accepted.body.access_token })).status).toBe(200);
    expect((await login(email, "my own password")).status).toBe(200);

    const again = await http(gw.url, "POST", "/api/auth/accept-invitation", { body: { token, password: "another password" } });
    expect([again.status, again.body.code]).toEqual([400, "TOKEN_USED"]);
  });

  it("works through REST and GraphQL's acceptInvitation alike", async () => {
    const admin = await signUp(gw.url, "Rest Inviter");
    const email = `rest-invitee-${Date.now()}@team.test`;
    const invited = await http(gw.url, "POST", "/api/auth/invitations", { token: admin.access_token, body: { email, role: "user" } });
    expect([invited.status, typeof invited.body.id]).toEqual([201, "number"]);
    const { token } = linkOf(await mailbox.next(email), "/accept-invitation");
    const accept = `mutation($t: String!, $p: String!) { acceptInvitation(input: { token: $t, password: $p }) { accessToken user { email role emailVerified } } }`;
    const data = await graphqlOk(gw.url, accept, { t: token, p: "graph password" });
    expect(data.acceptInvitation.user).toEqual({ email, role: "user", emailVerified: true });
  });
});

describe("change of e-mail address", () => {
  it("changes once the link sent to the new address is followed; the old address is told", async () => {
    const shop = await signUp(gw.url, "Moving Shop");
    await mailbox.next(shop.email);
    const newEmail = `moved-${Date.now()}@example.test`;
    const asked = await http(gw.url, "POST", "/api/auth/change-email", { token: shop.access_token, body: { new_email: newEmail } });
    expect(asked.status).toBe(202);
    expect((await http(gw.url, "GET", "/api/auth/session", { token: shop.access_token })).body.user.email).toBe(shop.email);

    const { token } = linkOf(await mailbox.next(newEmail), "/confirm-email-change");
    expect((await http(gw.url, "POST", "/api/auth/confirm-email-change", { body: { token } })).status).toBe(204);
    const session = await http(gw.url, "GET", "/api/auth/session", { token: shop.access_token });
    expect(session.body.user).toMatchObject({ email: newEmail, email_verified: true });
    expect((await login(newEmail, shop.password)).status).toBe(200);
    expect((await login(shop.email, shop.password)).status).toBe(401);

    const notice = await mailbox.next(shop.email);
    expect(notice.subject).toBe("Your Stoflow sign-in address changed");
    expect(notice.text).toContain(newEmail);
  });

  it("works through GraphQL, and sends nothing to an address another account has", async () => {
    const shop = await signUp(gw.url, "Graph Mover");
    const other = await signUp(gw.url, "Other Owner");
    const change = `mutation($e: String!) { requestEmailChange(input: { newEmail: $e }) { success } }`;
    expect(await graphqlOk(gw.url, change, { e: other.email }, shop.access_token)).toEqual({ requestEmailChange: { success: true } });
    const newEmail = `graph-moved-${Date.now()}@example.test`;
    expect(await graphqlOk(gw.url, change, { e: newEmail }, shop.access_token)).toEqual({ requestEmailChange: { success: true } });
    const { token } = linkOf(await mailbox.next(newEmail), "/confirm-email-change");
    const confirm = `mutation($t: String!) { confirmEmailChange(input: { token: $t }) { success } }`;
    expect(await graphqlOk(gw.url, confirm, { t: token })).toEqual({ confirmEmailChange: { success: true } });
    await mailbox.next(other.email); // its own verification message, and nothing else
    expect(mailbox.to(other.email).map((m) => m.subject)).toEqual(["Confirm your e-mail address"]);
  });
});

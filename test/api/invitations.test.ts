import { describe, expect, it } from "vitest";
import { addTeamMember, graphqlOk, http, restLogin, signUp } from "../helpers/gateway.ts";
import { linkOf, mailedGateway } from "../helpers/mail.ts";

const { gw, mailbox } = mailedGateway();

const INVITE = `mutation($i: InviteTeamMemberInput!) { inviteTeamMember(input: $i) { invitation { rowId email role fullName expiresAt } } }`;
const INVITATIONS = `{ invitations { nodes { rowId email role invitedBy } } }`;
const login = (email: string, password: string) => restLogin(gw.url, email, password);
const accept = (token: string, password = "my own password") =>
  http(gw.url, "POST", "/api/auth/accept-invitation", { body: { token, password } });
const session = (token: string) => http(gw.url, "GET", "/api/auth/session", { token });
let invitees = 0;
const inviteeEmail = () => `invitee-${process.pid}-${++invitees}@team.test`;

describe("invitations", () => {
  it("an admin invites by e-mail and role; the user exists once the invitee accepts through the link, signed in", async () => {
    const admin = await signUp(gw.url, "Inviting Shop");
    const email = inviteeEmail();
    const invited = await graphqlOk(gw.url, INVITE, { i: { email, role: "viewer", fullName: "Ivy Invitee" } }, admin.access_token);
    expect(invited.inviteTeamMember.invitation).toMatchObject({ email, role: "viewer", fullName: "Ivy Invitee" });
    expect((await gw.db.owner.query("select 1 from public.users where email = $1", [email])).rowCount).toBe(0); // squats nothing
    expect((await login(email, "any password at all")).status).toBe(401);

    const mail = await mailbox.next(email);
    expect(mail.subject).toBe("You are invited to join a shop on Stoflow");
    expect(mail.text).toContain("An admin of the shop “Inviting Shop” invites you to join its team on Stoflow, as a viewer.");
    expect(mail.text).toMatch(/^Hello,/); // the invitee's name is the inviter's text: not a greeting
    const { token } = linkOf(mail, "/accept-invitation");
    const accepted = await accept(token);
    expect(accepted.status).toBe(200);
    expect(accepted.body.user).toMatchObject({ email, full_name: "Ivy Invitee", role: "viewer", email_verified: true });
    expect(accepted.body.tenant.name).toBe("Inviting Shop");
    expect((await session(accepted.body.access_token)).status).toBe(200);
    expect((await login(email, "my own password")).status).toBe(200);
    expect((await accept(token, "another password")).body.code).toBe("TOKEN_USED");
    expect((await graphqlOk(gw.url, INVITATIONS, {}, admin.access_token)).invitations.nodes).toEqual([]);
  });

  it("lists, resends and revokes pending invitations through REST", async () => {
    const admin = await signUp(gw.url, "Rest Inviter");
    const email = inviteeEmail();
    const invited = await http(gw.url, "POST", "/api/auth/invitations", {
      token: admin.access_token,
      body: { email, role: "user", full_name: "Rhea" },
    });
    expect([invited.status, typeof invited.body.id]).toEqual([201, "number"]);
    const listed = await http(gw.url, "GET", "/api/auth/invitations", { token: admin.access_token });
    expect(listed.body.invitations).toEqual([
      expect.objectContaining({ id: invited.body.id, email, full_name: "Rhea", role: "user", invited_by: admin.user.id }),
    ]);
    const first = linkOf(await mailbox.next(email), "/accept-invitation").token;

    const resent = await http(gw.url, "POST", `/api/auth/invitations/${invited.body.id}/resend`, { token: admin.access_token });
    expect([resent.status, resent.body]).toEqual([202, { id: invited.body.id }]);
    const second = linkOf(await mailbox.next(email), "/accept-invitation").token;
    expect(second).not.toBe(first);

    expect((await http(gw.url, "DELETE", `/api/auth/invitations/${invited.body.id}`, { token: admin.access_token })).status).toBe(204);
    expect((await accept(first)).body.code).toBe("TOKEN_INVALID");
    expect((await accept(second)).body.code).toBe("TOKEN_INVALID");
    expect((await http(gw.url, "GET", "/api/auth/invitations", { token: admin.access_token })).body.invitations).toEqual([]);
  });

  it("takes an invitation's id in the path only as its decimal digits: other spellings are 422 and revoke nothing", async () => {
    const admin = await signUp(gw.url, "Spelling Inviter");
    const email = inviteeEmail();
    const invited = await http(gw.url, "POST", "/api/auth/invitations", { token: admin.access_token, body: { email, role: "user" } });
    await mailbox.next(email);
    const id = invited.body.id as number;
    const spellings = [`${id}e0`, `0x${id.toString(16)}`, `%20${id}`, `${id}.0`, `0${id}`, `+${id}`, `${id}%20`];
    for (const spelling of spellings) {
      const revoke = await http(gw.url, "DELETE", `/api/auth/invitations/${spelling}`, { token: admin.access_token });
      expect([revoke.status, revoke.body.code], spelling).toEqual([422, "INVALID_INPUT"]);
      const resend = await http(gw.url, "POST", `/api/auth/invitations/${spelling}/resend`, { token: admin.access_token });
      expect([resend.status, resend.body.code], spelling).toEqual([422, "INVALID_INPUT"]);
    }
    expect((await http(gw.url, "GET", "/api/auth/invitations", { token: admin.access_token })).body.invitations).toHaveLength(1);
    expect((await http(gw.url, "DELETE", `/api/auth/invitations/${id}`, { token: admin.access_token })).status).toBe(204);
  });

  it("lists, resends and revokes through GraphQL; only admins see invitations", async () => {
    const admin = await signUp(gw.url, "Graph Inviter");
    const email = inviteeEmail();
    const { rowId } = (await graphqlOk(gw.url, INVITE, { i: { email } }, admin.access_token)).inviteTeamMember.invitation;
    await mailbox.next(email);
    expect((await graphqlOk(gw.url, INVITATIONS, {}, admin.access_token)).invitations.nodes).toEqual([
      { rowId, email, role: "user", invitedBy: admin.user.id },
    ]);
    const viewer = await addTeamMember(gw, admin.tenant.id, "viewer");
    expect((await graphqlOk(gw.url, INVITATIONS, {}, viewer.token)).invitations.nodes).toEqual([]);

    const resend = `mutation($id: Int!) { resendInvitation(input: { rowId: $id }) { invitation { rowId email } } }`;
    expect((await graphqlOk(gw.url, resend, { id: rowId }, admin.access_token)).resendInvitation.invitation).toEqual({ rowId, email });
    const { token } = linkOf(await mailbox.next(email), "/accept-invitation");
    const revoke = `mutation($id: Int!) { revokeInvitation(input: { rowId: $id }) { success } }`;
    expect(await graphqlOk(gw.url, revoke, { id: rowId }, admin.access_token)).toEqual({ revokeInvitation: { success: true } });
    expect((await accept(token)).body.code).toBe("TOKEN_INVALID");
  });

  it("drops a pending invitation when its address registers: its owner gets in, the link stops working", async () => {
    const admin = await signUp(gw.url, "Early Inviter");
    const email = inviteeEmail();
    await http(gw.url, "POST", "/api/auth/invitations", { token: admin.access_token, body: { email } });
    const { token } = linkOf(await mailbox.next(email), "/accept-invitation");
    const own = await http(gw.url, "POST", "/api/auth/register", { body: { name: "My Own Shop", email, password: "my own password" } });
    expect(own.status).toBe(201);
    expect((await accept(token)).body.code).toBe("TOKEN_INVALID");
    expect((await http(gw.url, "GET", "/api/auth/invitations", { token: admin.access_token })).body.invitations).toEqual([]);
  });
});

describe("change of e-mail address", () => {
  const ask = (token: string, newEmail: string, password: string) =>
    http(gw.url, "POST", "/api/auth/change-email", { token, body: { new_email: newEmail, current_password: password } });
  const confirm = (token: string) => http(gw.url, "POST", "/api/auth/confirm-email-change", { body: { token } });

  it("asks for the password, and changes once both the new and the old address confirmed; then every session ends", async () => {
    const shop = await signUp(gw.url, "Moving Shop");
    await mailbox.next(shop.email);
    const newEmail = `moved-${process.pid}-${Date.now()}@example.test`;
    expect((await ask(shop.access_token, newEmail, "not my password")).body.code).toBe("INVALID_CREDENTIALS");
    expect((await ask(shop.access_token, newEmail, shop.password)).status).toBe(202);

    const atNew = await mailbox.next(newEmail);
    const atOld = await mailbox.next(shop.email);
    expect(atNew.subject).toBe("Confirm your new e-mail address");
    expect(atOld.subject).toBe("Confirm the change of your Stoflow sign-in address");
    expect(atOld.text).toContain(`to “${newEmail.replace("@", "[@]").replaceAll(".", "[.]")}”`);
    expect(linkOf(atOld, "/cancel-email-change").token).toBe(linkOf(atOld, "/confirm-email-change").token);

    expect((await confirm(linkOf(atNew, "/confirm-email-change").token)).body.changed).toBe(false);
    expect((await session(shop.access_token)).body.user.email).toBe(shop.email); // not yet
    expect((await confirm(linkOf(atOld, "/confirm-email-change").token)).body.changed).toBe(true);
    expect((await session(shop.access_token)).status).toBe(401);
    const signedIn = await login(newEmail, shop.password);
    expect(signedIn.body.user).toMatchObject({ email: newEmail, email_verified: true });
    expect((await login(shop.email, shop.password)).status).toBe(401);
  });

  it("lets the old address refuse: this was not me cancels the change and ends every session", async () => {
    const shop = await signUp(gw.url, "Refusing Shop");
    await mailbox.next(shop.email);
    const newEmail = `thief-${process.pid}-${Date.now()}@example.test`;
    await ask(shop.access_token, newEmail, shop.password);
    const atNew = await mailbox.next(newEmail);
    const cancel = linkOf(await mailbox.next(shop.email), "/cancel-email-change").token;
    expect((await http(gw.url, "POST", "/api/auth/cancel-email-change", { body: { token: cancel } })).status).toBe(204);
    expect((await session(shop.access_token)).status).toBe(401);
    expect((await confirm(linkOf(atNew, "/confirm-email-change").token)).body.code).toBe("TOKEN_INVALID");
    expect((await login(shop.email, shop.password)).body.user.email).toBe(shop.email);
  });

  it("works through GraphQL, and sends nothing to an address another account has", async () => {
    const shop = await signUp(gw.url, "Graph Mover");
    const other = await signUp(gw.url, "Other Owner");
    await mailbox.next(shop.email);
    const change = `mutation($e: String!, $p: String!) { requestEmailChange(input: { newEmail: $e, currentPassword: $p }) { success } }`;
    expect(await graphqlOk(gw.url, change, { e: other.email, p: shop.password }, shop.access_token)).toEqual({
      requestEmailChange: { success: true },
    });
    await mailbox.next(shop.email); // the old address is asked all the same
    const newEmail = `graph-moved-${process.pid}-${Date.now()}@example.test`;
    expect(await graphqlOk(gw.url, change, { e: newEmail, p: shop.password }, shop.access_token)).toEqual({
      requestEmailChange: { success: true },
    });
    const confirmation = `mutation($t: String!) { confirmEmailChange(input: { token: $t }) { success changed } }`;
    const first = await graphqlOk(gw.url, confirmation, { t: linkOf(await mailbox.next(newEmail), "/confirm-email-change").token });
    expect(first).toEqual({ confirmEmailChange: { success: true, changed: false } });
    const second = await graphqlOk(gw.url, confirmation, { t: linkOf(await mailbox.next(shop.email), "/confirm-email-change").token });
    expect(second).toEqual({ confirmEmailChange: { success: true, changed: true } });
    await mailbox.next(other.email); // its own verification message, and nothing else
    expect(mailbox.to(other.email).map((m) => m.subject)).toEqual(["Confirm your e-mail address"]);
  });
});

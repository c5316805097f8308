import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addTeamMember, graphql, graphqlOk, http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { asSession, expectPgError } from "../helpers/db.ts";
import { linkOf, mailSettings, plantToken, startMailbox, type Mailbox } from "../helpers/mail.ts";
import { recordAttack } from "./recorder.ts";

const record = (attack: string, attempts: number, result: string) => recordAttack(import.meta.filename, "invitations", attack, attempts, result);

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

let invitees = 0;
const inviteeEmail = () => `invitee-${process.pid}-${++invitees}@team.test`;
const invite = (token: string, body: Record<string, unknown>) => http(gw.url, "POST", "/api/auth/invitations", { token, body });
const USERS = `{ users { nodes { email } } }`;

describe("invitations across tenants", () => {
  it("lets no user or viewer invite", async () => {
    const admin = await signUp(gw.url, "Strict Shop");
    for (const role of ["user", "viewer"] as const) {
      const member = await addTeamMember(gw.url, admin.access_token, role);
      const email = inviteeEmail();
      const res = await invite(member.token, { email, role: "admin" });
      expect([res.status, res.body.code]).toEqual([403, "FORBIDDEN"]);
      expect((await gw.db.owner.query("select 1 from public.users where email = $1", [email])).rowCount).toBe(0);
    }
    record("a user and a viewer invite an admin into their own tenant", 2, "403 FORBIDDEN, no user, no message");
  });

  it("puts the invitee in the inviting admin's tenant whatever the body names", async () => {
    const a = await signUp(gw.url, "Tenant A");
    const b = await signUp(gw.url, "Tenant B");
    const email = inviteeEmail();
    const res = await invite(a.access_token, { email, role: "admin", tenant_id: b.tenant.id, tenantId: b.tenant.id });
    expect(res.status).toBe(201);
    const { rows } = await gw.db.owner.query("select tenant_id from public.users where id = $1", [res.body.id]);
    expect(rows[0].tenant_id).toBe(a.tenant.id);
    record("an admin of A invites naming tenant B in the body", 1, "the invitee lands in A");
  });

  it("shows tenant B nothing of tenant A's invitations", async () => {
    const a = await signUp(gw.url, "Secret Team");
    const b = await signUp(gw.url, "Curious Neighbour");
    const email = inviteeEmail();
    const invited = await invite(a.access_token, { email, role: "user" });
    const seenByB = await graphqlOk(gw.url, USERS, {}, b.access_token);
    expect(seenByB.users.nodes.map((u: { email: string }) => u.email)).toEqual([b.email]);
    const byId = await graphqlOk(gw.url, `query($id: Int!) { user(rowId: $id) { email } }`, { id: invited.body.id }, b.access_token);
    expect(byId.user).toBeNull();
    record("an admin of B lists users and reads A's invitee by id", 2, "only B's own users; null");
  });

  it("refuses, in SQL, an admin queueing an invitation for another tenant's user", async () => {
    const a = await signUp(gw.url, "Queue A");
    const b = await signUp(gw.url, "Queue B");
    const bInvitee = await invite(b.access_token, { email: inviteeEmail(), role: "user" });
    await expectPgError(asSession(gw.db.app, { role: "stoflow_admin", tenantId: a.tenant.id, userId: a.user.id }, (client) =>
      client.query("select app_private.queue_invitation($1)", [bInvitee.body.id])), "42501");
    await expectPgError(asSession(gw.db.app, { role: "stoflow_admin", tenantId: a.tenant.id, userId: a.user.id }, (client) =>
      client.query("select app_private.queue_account_email($1, 'reset_password')", [b.user.id])), "42501");
    record("an admin of A calls the SQL that queues invitations and resets for B's users", 2, "42501 both");
  });

  it("refuses an invitation token anywhere but accept-invitation, and once the invitee was deactivated", async () => {
    const admin = await signUp(gw.url, "Careful Shop");
    const email = inviteeEmail();
    const invited = await invite(admin.access_token, { email, role: "user" });
    const { token } = linkOf(await mailbox.next(email), "/accept-invitation");
    const asReset = await http(gw.url, "POST", "/api/auth/reset-password", { body: { token, new_password: "hijacked password" } });
    const asEmailChange = await http(gw.url, "POST", "/api/auth/confirm-email-change", { body: { token } });
    expect([asReset.body.code, asEmailChange.body.code]).toEqual(["TOKEN_INVALID", "TOKEN_INVALID"]);

    await graphqlOk(gw.url, `mutation($id: Int!) { updateUser(input: { rowId: $id, patch: { isActive: false } }) { user { isActive } } }`,
      { id: invited.body.id }, admin.access_token);
    const accept = await http(gw.url, "POST", "/api/auth/accept-invitation", { body: { token, password: "too late password" } });
    expect([accept.status, accept.body.code]).toEqual([400, "TOKEN_INVALID"]);
    record("an invitation token used to reset a password, to change an address, and after the invitee was deactivated", 3, "400 TOKEN_INVALID each");
  });

  it("does not count an invited admin who has not chosen a password as the admin who keeps the tenant", async () => {
    const admin = await signUp(gw.url, "Leaving Admin");
    await invite(admin.access_token, { email: inviteeEmail(), role: "admin" });
    const leave = await graphql(gw.url, `mutation($id: Int!) { updateUser(input: { rowId: $id, patch: { isActive: false } }) { user { isActive } } }`,
      { id: admin.user.id }, admin.access_token);
    expect(leave.body.errors?.[0]?.extensions?.code).toBe("LAST_ADMIN");
    record("the only admin invites an admin, then deactivates themselves before the invitation is accepted", 1, "LAST_ADMIN, still active");
  });

  it("sends nothing to an address another tenant has (no spam through invitations)", async () => {
    const a = await signUp(gw.url, "Spammy Shop");
    const victim = await signUp(gw.url, "Busy Victim");
    await mailbox.next(victim.email);
    const res = await invite(a.access_token, { email: victim.email.toUpperCase(), role: "user" });
    expect([res.status, res.body.code]).toEqual([400, "EMAIL_TAKEN"]);
    const planted = await plantToken(gw.db.owner, victim.user.id, "invitation");
    const hijack = await http(gw.url, "POST", "/api/auth/accept-invitation", { body: { token: planted, password: "taken over password" } });
    expect([hijack.status, hijack.body.code]).toEqual([400, "TOKEN_USED"]); // the account has a password: nothing to accept
    expect(mailbox.to(victim.email)).toHaveLength(1);
    record("an admin invites the address of another tenant's admin", 1, "400 EMAIL_TAKEN, no message");
  });
});

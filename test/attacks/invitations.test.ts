import { describe, expect, it } from "vitest";
import { addTeamMember, confirmPassword, graphqlOk, http, signUp, tally } from "../helpers/gateway.ts";
import { asSession, expectPgError } from "../helpers/db.ts";
import { linkOf, mailedGateway } from "../helpers/mail.ts";
import { until } from "../helpers/until.ts";
import { QUOTE_MARKS, quoted } from "../../src/mail/messages.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "invitations");

/** Invitation limits at their defaults: 10 an hour per admin, 20 per tenant; 3 invitation messages an hour per address. */
const { gw, mailbox } = mailedGateway();

let invitees = 0;
const inviteeEmail = () => `invitee-${process.pid}-${++invitees}@team.test`;
const invite = (token: string, body: Record<string, unknown>) => http(gw.url, "POST", "/api/auth/invitations", { token, body });
const accept = (token: string) => http(gw.url, "POST", "/api/auth/accept-invitation", { body: { token, password: "an invitee password" } });
const USERS = `{ users { nodes { email } } }`;
/** Waits until the worker has no job left (every queued message sent or dropped). */
const drained = () =>
  until("the queue to drain", async () => (await gw.db.owner.query("select count(*)::int as n from graphile_worker.jobs")).rows[0].n === 0);

describe("invitations are no mail cannon", () => {
  it("throttles one admin to 10 invitations an hour, even sent all at once", async () => {
    const admin = await signUp(gw.url, "Cannon Shop");
    const burst = await Promise.all(Array.from({ length: 30 }, () => invite(admin.access_token, { email: inviteeEmail() })));
    expect(tally(burst.map((r) => r.status))).toEqual({ 201: 10, 429: 20 });
    expect(burst.find((r) => r.status === 429)!.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(
      (await gw.db.owner.query("select count(*)::int as n from public.invitations where tenant_id = $1", [admin.tenant.id])).rows[0].n,
    ).toBe(10);
    record("30 parallel invitations from one admin", 30, "10 × 201, 20 × 429 with Retry-After; 10 invitations, no user row");
  });

  it("throttles one tenant to 20 an hour whatever its number of admins", async () => {
    const owner = await signUp(gw.url, "Many Admins");
    const admins = [
      owner.access_token,
      ...(await Promise.all([1, 2].map(() => addTeamMember(gw, owner.tenant.id, "admin")))).map((a) => a.token),
    ];
    const burst = await Promise.all(admins.flatMap((token) => Array.from({ length: 10 }, () => invite(token, { email: inviteeEmail() }))));
    expect(tally(burst.map((r) => r.status))).toEqual({ 201: 20, 429: 10 });
    record("3 admins of one tenant send 10 parallel invitations each", 30, "20 × 201, 10 × 429");
  });

  it("counts a resend as an invitation", async () => {
    const admin = await signUp(gw.url, "Resending Shop");
    const { body } = await invite(admin.access_token, { email: inviteeEmail() });
    const resends = await Promise.all(
      Array.from({ length: 12 }, () => http(gw.url, "POST", `/api/auth/invitations/${body.id}/resend`, { token: admin.access_token })),
    );
    expect(tally(resends.map((r) => r.status))).toEqual({ 202: 9, 429: 3 });
    record("12 parallel resends of one invitation", 12, "9 × 202 (with the invitation, 10 in the hour), 3 × 429");
  });

  it("mails one address at most 3 invitations an hour from one tenant; another tenant's still arrives", async () => {
    const target = inviteeEmail();
    const [spammer, employer] = await Promise.all([signUp(gw.url, "Spray Shop"), signUp(gw.url, "Real Employer")]);
    const { body } = await invite(spammer.access_token, { email: target });
    await drained();
    for (let i = 0; i < 4; i++) {
      // one after the other: each message is sent (or dropped) before the next is asked for
      expect((await http(gw.url, "POST", `/api/auth/invitations/${body.id}/resend`, { token: spammer.access_token })).status).toBe(202);
      await drained();
    }
    expect(mailbox.to(target)).toHaveLength(3);
    expect((await invite(employer.access_token, { email: target })).status).toBe(201);
    await until("the other tenant's invitation", () => mailbox.to(target).length === 4);
    expect(mailbox.to(target)[3].text).toContain("“Real Employer”");
    record(
      "a tenant sends one address 5 invitation messages (an invitation and 4 resends), then another tenant invites it",
      6,
      "6 × 201/202; 3 of the first tenant's messages sent (the rest dropped silently), the other tenant's invitation delivered",
    );
  });
});

describe("invitations tell nothing about other tenants' accounts", () => {
  it("answers 201 for an address registered anywhere, creates no user, mails it nothing", async () => {
    const a = await signUp(gw.url, "Probing Shop");
    const victim = await signUp(gw.url, "Registered Elsewhere");
    await mailbox.next(victim.email);
    await confirmPassword(gw.url, a.access_token);
    const known = await invite(a.access_token, { email: victim.email.toUpperCase(), role: "admin" });
    const unknown = await invite(a.access_token, { email: inviteeEmail(), role: "admin" });
    expect([known.status, Object.keys(known.body)]).toEqual([unknown.status, Object.keys(unknown.body)]);
    expect(known.status).toBe(201);
    expect((await gw.db.owner.query("select tenant_id from public.users where lower(email) = lower($1)", [victim.email])).rows).toEqual([
      { tenant_id: victim.tenant.id },
    ]);
    await drained();
    expect(mailbox.to(victim.email)).toHaveLength(1); // its verification message only
    record(
      "an admin invites the address of another tenant's admin (probing for accounts)",
      1,
      "201 like any address; no user row, no message",
    );
  });
});

describe("pending invitations squat nothing", () => {
  it("lets the owner of an invited address register and reset; the invitation is dropped", async () => {
    const squatter = await signUp(gw.url, "Squatting Shop");
    const email = inviteeEmail();
    await invite(squatter.access_token, { email, role: "user" });
    const { token } = linkOf(await mailbox.next(email), "/accept-invitation");
    const own = await http(gw.url, "POST", "/api/auth/register", {
      body: { name: "Rightful Owner", email, password: "the owner's password" },
    });
    expect(own.status).toBe(201);
    expect((await http(gw.url, "POST", "/api/auth/forgot-password", { body: { email } })).status).toBe(202);
    await until("the verification and the reset message", () => mailbox.to(email).length === 3);
    const reset = mailbox.to(email).find((m) => m.subject === "Reset your Stoflow password")!;
    expect(linkOf(reset, "/reset-password").token).toMatch(/^[\w-]{43}$/);
    expect((await accept(token)).body.code).toBe("TOKEN_INVALID");
    expect((await invite(squatter.access_token, { email })).status).toBe(201); // again: still nothing squatted
    expect((await gw.db.owner.query("select tenant_id from public.users where email = $1", [email])).rows).toEqual([
      { tenant_id: own.body.tenant.id },
    ]);
    record(
      "an admin invites an address, then its owner registers and asks for a reset",
      3,
      "201 register, 202 reset mailed, the invitation's link 400 TOKEN_INVALID",
    );
  });

  it("expires: an invitation past INVITATION_TTL cannot be accepted", async () => {
    const admin = await signUp(gw.url, "Slow Invitee");
    const email = inviteeEmail();
    const { body } = await invite(admin.access_token, { email });
    const { token } = linkOf(await mailbox.next(email), "/accept-invitation");
    await gw.db.owner.query("update public.invitations set expires_at = now() - interval '1 second' where id = $1", [body.id]);
    await gw.db.owner.query("update app_private.user_tokens set expires_at = now() - interval '1 second' where invitation_id = $1", [
      body.id,
    ]);
    expect((await accept(token)).body.code).toBe("TOKEN_EXPIRED");
    expect((await http(gw.url, "GET", "/api/auth/invitations", { token: admin.access_token })).body.invitations).toEqual([]);
    record("accept an invitation past its expiry", 1, "400 TOKEN_EXPIRED; no longer listed");
  });
});

describe("a pending invitation does not outlive its inviter", () => {
  for (const [event, act] of [
    ["deactivated", (id: number) => `mutation { updateUser(input: { rowId: ${id}, patch: { isActive: false } }) { user { rowId } } }`],
    ["deleted", (id: number) => `mutation { deleteUser(input: { rowId: ${id} }) { user { rowId } } }`],
    ["demoted", (id: number) => `mutation { updateUser(input: { rowId: ${id}, patch: { role: user } }) { user { rowId } } }`],
  ] as const) {
    it(`refuses an admin invitation once its inviter was ${event}`, async () => {
      const owner = await signUp(gw.url, `Owner ${event}`);
      const rogue = await addTeamMember(gw, owner.tenant.id, "admin");
      const email = inviteeEmail();
      await confirmPassword(gw.url, rogue.token, rogue.password);
      await confirmPassword(gw.url, owner.access_token);
      expect((await invite(rogue.token, { email, role: "admin" })).status).toBe(201);
      const { token } = linkOf(await mailbox.next(email), "/accept-invitation");
      await graphqlOk(gw.url, act(rogue.id), {}, owner.access_token);
      expect((await accept(token)).body.code).toBe("TOKEN_INVALID");
      expect((await gw.db.owner.query("select 1 from public.users where email = $1", [email])).rowCount).toBe(0);
      record(`an admin invites an admin, is ${event} by the owner, and the invitee accepts`, 1, "400 TOKEN_INVALID, no user");
    });
  }
});

describe("invitations across tenants", () => {
  it("lets no user or viewer invite, list, resend or revoke", async () => {
    const admin = await signUp(gw.url, "Strict Shop");
    const { body } = await invite(admin.access_token, { email: inviteeEmail() });
    for (const role of ["user", "viewer"] as const) {
      const member = await addTeamMember(gw, admin.tenant.id, role);
      const answers = await Promise.all([
        invite(member.token, { email: inviteeEmail(), role: "admin" }),
        http(gw.url, "GET", "/api/auth/invitations", { token: member.token }),
        http(gw.url, "POST", `/api/auth/invitations/${body.id}/resend`, { token: member.token }),
        http(gw.url, "DELETE", `/api/auth/invitations/${body.id}`, { token: member.token }),
      ]);
      expect(answers.map((r) => `${r.status} ${r.body.code}`)).toEqual(Array(4).fill("403 FORBIDDEN"));
    }
    expect(
      (await gw.db.owner.query("select count(*)::int as n from public.invitations where tenant_id = $1", [admin.tenant.id])).rows[0].n,
    ).toBe(1);
    record("a user and a viewer invite an admin, list, resend and revoke invitations", 8, "403 FORBIDDEN each, nothing changed");
  });

  it("puts the invitation in the inviting admin's tenant whatever the body names", async () => {
    const a = await signUp(gw.url, "Tenant A");
    const b = await signUp(gw.url, "Tenant B");
    await confirmPassword(gw.url, a.access_token);
    const res = await invite(a.access_token, { email: inviteeEmail(), role: "admin", tenant_id: b.tenant.id, tenantId: b.tenant.id });
    expect(res.status).toBe(201);
    const { rows } = await gw.db.owner.query("select tenant_id from public.invitations where id = $1", [res.body.id]);
    expect(rows[0].tenant_id).toBe(a.tenant.id);
    record("an admin of A invites naming tenant B in the body", 1, "the invitation is A's");
  });

  it("shows, resends and revokes nothing of tenant A's invitations to tenant B", async () => {
    const a = await signUp(gw.url, "Secret Team");
    const b = await signUp(gw.url, "Curious Neighbour");
    const invited = await invite(a.access_token, { email: inviteeEmail(), role: "user" });
    const seenByB = await graphqlOk(gw.url, `{ invitations { nodes { email } } }`, {}, b.access_token);
    expect(seenByB.invitations.nodes).toEqual([]);
    const byId = await graphqlOk(gw.url, `query($id: Int!) { invitation(rowId: $id) { email } }`, { id: invited.body.id }, b.access_token);
    expect(byId.invitation).toBeNull();
    const resend = await http(gw.url, "POST", `/api/auth/invitations/${invited.body.id}/resend`, { token: b.access_token });
    const revoke = await http(gw.url, "DELETE", `/api/auth/invitations/${invited.body.id}`, { token: b.access_token });
    expect([resend.status, revoke.status]).toEqual([404, 404]);
    expect((await graphqlOk(gw.url, USERS, {}, b.access_token)).users.nodes).toEqual([{ email: b.email }]);
    record("an admin of B lists, reads by id, resends and revokes A's invitation", 4, "empty list, null, 404 NOT_FOUND × 2");
  });

  it("refuses, in SQL, the functions of invitations and of account mail to anyone but their callers", async () => {
    const a = await signUp(gw.url, "Queue A");
    const asAdminOfA = { role: "stoflow_admin" as const, tenantId: a.tenant.id, userId: a.user.id };
    await expectPgError(
      asSession(gw.db.app, asAdminOfA, (client) =>
        client.query("select app_private.queue_account_email('reset_password', 'x@example.test')"),
      ),
      "42501",
    );
    await expectPgError(
      asSession(gw.db.app, asAdminOfA, (client) => client.query("select app_private.revoke_dependent_credentials(array[1], 'forged')")),
      "42501",
    );
    await expectPgError(
      asSession(gw.db.app, asAdminOfA, (client) =>
        client.query("select app_private.add_team_member($1, 'squat@example.test', null, 'admin', 'x')", [a.tenant.id]),
      ),
      "42501",
    );
    await expectPgError(
      asSession(gw.db.app, asAdminOfA, (client) =>
        client.query("select app_private.confirm_password($1, gen_random_uuid(), 1, '1 day')", [a.user.id]),
      ),
      "42501",
    );
    await expectPgError(
      asSession(gw.db.app, { role: "stoflow_user", tenantId: a.tenant.id, userId: a.user.id }, (client) =>
        client.query("select * from app_private.invite('x@example.test', null, 'admin', '1 day', 1000, 1000, 1)"),
      ),
      "42501",
    );
    record(
      "an admin calls the SQL that queues account mail, revokes credentials, adds a member and opens sudo mode; a user calls the SQL that invites",
      5,
      "42501 each",
    );
  });
});

describe("our mail carries no stranger's text as a claim", () => {
  it("quotes and defangs a tenant name with a URL, and never opens the subject with it", async () => {
    const name = "Claim your prize at https://evil.example/login — Stoflow Security Team, write to help@evil.example now!!";
    const phisher = await signUp(gw.url, name);
    const email = inviteeEmail();
    await invite(phisher.access_token, { email, full_name: "Visit www.evil.example" });
    const mail = await mailbox.next(email);
    expect(mail.subject).toBe("You are invited to join a shop on Stoflow");
    const text = mail.text ?? "";
    expect(text).not.toMatch(/https?:\/\/(?!app\.stoflow\.test)|evil\.example|www\.|@evil/);
    expect(text).toContain("the shop “Claim your prize at https[:]//evil[.]example/login — Stoflow Se…”");
    expect(mail.html).not.toMatch(/evil\.example/);
    expect(text).not.toContain("Visit"); // the invitee's name, typed by the inviter, is not in the message
    record(
      "a tenant named with a URL, an address and a false signature invites a stranger",
      1,
      "fixed subject; the name quoted, cut at 60 characters, its URL and domain defanged",
    );
  });

  it("keeps a name's quote marks, of any script, from ending the quotation", async () => {
    const phisher = await signUp(gw.url, "Lou” has reset your password. Verify at evil dot example “");
    const email = inviteeEmail();
    await invite(phisher.access_token, { email });
    const text = (await mailbox.next(email)).text ?? "";
    expect(text).toContain("An admin of the shop “Louʼ has reset your password[.] Verify at evil dot example ʼ” invites you");
    // Every quote mark of the attacker's list, and lookalikes, alone and doubled, at both ends of the words.
    const marks = [..."“”„‟«»‹›\"'‘’‚‛「」『』〝〞〟＂＇″‶′‵❝❞❛❜`´ʺˮ˝ʼ⹂﹁﹂﹃﹄⸂⸃⸌⸍⸜⸝⸠⸡״׳〃Ꞌꞌ՚՛", "🙶", "🙷", "🙸"];
    for (const mark of marks) {
      for (const name of [`Lou${mark} has reset your password ${mark}`, `Lou${mark}${mark} wins ${mark}${mark}`]) {
        const inner = quoted(name).slice(1, -1);
        expect([quoted(name).at(0), quoted(name).at(-1)]).toEqual(["“", "”"]);
        expect(inner.replace(/ʼ/g, ""), `${mark}: ${quoted(name)}`).not.toMatch(new RegExp(QUOTE_MARKS.source, "u"));
        expect(inner, mark).not.toContain("ʼʼ");
        if (mark !== "ʼ") expect(inner, `${mark} kept in ${inner}`).not.toContain(mark);
      }
    }
    record(
      `a shop named "Lou” has reset your password. Verify at evil dot example “" invites a stranger; the same with ${marks.length} quote marks of every script, alone and doubled`,
      1 + 2 * marks.length,
      "the mail reads “Louʼ has reset your password[.] … ʼ”: each run of quote marks becomes one ʼ, which ends no quotation",
    );
  });
});

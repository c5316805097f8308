import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addTeamMember, confirmPassword, graphql, http, signUp, startTestGateway, tally, type TestGateway } from "../helpers/gateway.ts";
import { runTransaction } from "../../src/db/transaction.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "takeover with a stolen token");

/**
 * What a stolen access token alone can do (the attacker's path of issue 23: plant an admin, wait
 * for the owner to reset the password, then deactivate the owner; or delete the tenant). Every
 * step that changes who is an admin, and deleting the tenant, needs the session to have confirmed
 * the password lately (sudo mode, REAUTHENTICATION_TTL); SQL refuses the rest with
 * REAUTHENTICATION_REQUIRED (HTTP 403), and members are no longer added through the API at all.
 */
let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ REAUTHENTICATION_TTL: "2" });
});
afterAll(() => gw.close());

const invite = (token: string, body: Record<string, unknown>) => http(gw.url, "POST", "/api/auth/invitations", { token, body });
const updateUser = (token: string, id: number, patch: string) =>
  graphql(gw.url, `mutation { updateUser(input: { rowId: ${id}, patch: { ${patch} } }) { user { rowId } } }`, {}, token);
const deleteUser = (token: string, id: number) =>
  graphql(gw.url, `mutation { deleteUser(input: { rowId: ${id} }) { user { rowId } } }`, {}, token);
const deleteTenant = (token: string, name: string) =>
  graphql(
    gw.url,
    `
      mutation ($n: String!) {
        deleteTenant(input: { confirmName: $n }) {
          result
        }
      }
    `,
    { n: name },
    token,
  );
/** HTTP status and code of a REST or GraphQL answer. */
const answer = (res: { status: number; body: any }) => `${res.status} ${res.body?.code ?? res.body?.errors?.[0]?.extensions?.code ?? "ok"}`;

/** The admins of a tenant and what they may do, as the database holds it. */
const admins = async (tenantId: number) =>
  (await gw.db.owner.query("select id, role, is_active from public.users where tenant_id = $1 and role = 'admin' order by id", [tenantId]))
    .rows;

describe("a stolen access token alone", () => {
  it("cannot plant an admin, raise a member, end an admin or delete the tenant; nothing changes", async () => {
    const owner = await signUp(gw.url, "Stolen Shop");
    const other = await addTeamMember(gw, owner.tenant.id, "admin");
    const member = await addTeamMember(gw, owner.tenant.id, "user");
    const pending = await gw.db.owner.query(
      "insert into public.invitations (tenant_id, email, role, invited_by, expires_at) values ($1, 'kept@sudo.test', 'admin', $2, now() + interval '1 day') returning id",
      [owner.tenant.id, owner.user.id],
    );
    const before = {
      admins: await admins(owner.tenant.id),
      invitations: (await gw.db.owner.query("select id, role, expires_at from public.invitations where tenant_id = $1", [owner.tenant.id]))
        .rows,
    };
    const stolen = owner.access_token;
    const tries = await Promise.all([
      invite(stolen, { email: "thief@attacker.test", role: "admin" }),
      http(gw.url, "POST", `/api/auth/invitations/${pending.rows[0].id}/resend`, { token: stolen }),
      graphql(
        gw.url,
        `
          mutation {
            inviteTeamMember(input: { email: "thief2@attacker.test", role: admin }) {
              invitation {
                rowId
              }
            }
          }
        `,
        {},
        stolen,
      ),
      updateUser(stolen, member.id, "role: admin"),
      updateUser(stolen, other.id, "isActive: false"),
      updateUser(stolen, other.id, "role: viewer"),
      deleteUser(stolen, other.id),
      deleteTenant(stolen, "Stolen Shop"),
    ]);
    expect(tries.map(answer)).toEqual(Array(8).fill("403 REAUTHENTICATION_REQUIRED"));
    expect((tries[7].body as { errors: { message: string }[] }).errors[0].message).toMatch(
      /^Deleting the tenant needs your password again/,
    );
    const after = {
      admins: await admins(owner.tenant.id),
      invitations: (await gw.db.owner.query("select id, role, expires_at from public.invitations where tenant_id = $1", [owner.tenant.id]))
        .rows,
    };
    expect(after).toEqual(before);
    expect((await http(gw.url, "GET", "/api/auth/session", { token: other.token })).status).toBe(200);
    record(
      "with only the owner's access token: invite an admin (REST, GraphQL), resend an admin invitation, raise a user to admin, deactivate, demote and delete another admin, delete the tenant (in parallel)",
      8,
      "8 × 403 REAUTHENTICATION_REQUIRED (GraphQL too, HTTP 403); admins, invitations and the tenant unchanged",
    );
  });

  it("cannot give the admin role to a deactivated member for a later reactivation to make active", async () => {
    const owner = await signUp(gw.url, "Dormant Shop");
    const member = await addTeamMember(gw, owner.tenant.id, "user");
    expect(answer(await updateUser(owner.access_token, member.id, "isActive: false"))).toBe("200 ok"); // not an admin: no sudo needed
    const raised = await Promise.all([
      updateUser(owner.access_token, member.id, "role: admin"),
      updateUser(owner.access_token, member.id, "role: admin, isActive: false"),
    ]);
    expect(raised.map(answer)).toEqual(["403 REAUTHENTICATION_REQUIRED", "403 REAUTHENTICATION_REQUIRED"]);
    const { rows } = await gw.db.owner.query("select role, is_active from public.users where id = $1", [member.id]);
    expect(rows).toEqual([{ role: "user", is_active: false }]);
    record(
      "with only the owner's access token: deactivate a member, then give the inactive member the admin role (alone, and with isActive: false)",
      3,
      "the deactivation 200 (not an admin); the admin role 403 REAUTHENTICATION_REQUIRED × 2; the member stays an inactive user",
    );
  });

  it("cannot add a member through the API any more: addTeamMember is gone and admins have no insert on users", async () => {
    const owner = await signUp(gw.url, "Squatter Shop");
    const victim = "victim@corp.test";
    const tries = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        graphql(
          gw.url,
          `mutation { addTeamMember(input: { email: "${i ? `probe${i}@corp.test` : victim}", role: admin, password: "attacker password" }) { user { rowId } } }`,
          {},
          owner.access_token,
        ),
      ),
    );
    expect(tally(tries.map(answer))).toEqual({ "400 GRAPHQL_VALIDATION_FAILED": 20 });
    const insert = await graphql(
      gw.url,
      `mutation { createUser(input: { user: { email: "${victim}" } }) { user { rowId } } }`,
      {},
      owner.access_token,
    );
    expect(answer(insert)).toBe("400 GRAPHQL_VALIDATION_FAILED");
    const { rows } = await gw.db.owner.query(
      "select has_table_privilege('stoflow_admin', 'public.users', 'INSERT') as table, has_any_column_privilege('stoflow_admin', 'public.users', 'INSERT') as columns",
    );
    expect(rows).toEqual([{ table: false, columns: false }]);
    const owns = await http(gw.url, "POST", "/api/auth/register", {
      body: { name: "Victim Corp", email: victim, password: "the victim's own password" },
    });
    expect(owns.status).toBe(201);
    record(
      "an admin adds 20 members with passwords of their choice (one a victim's address), and createUser",
      21,
      "400 GRAPHQL_VALIDATION_FAILED each (no such mutation), no EMAIL_TAKEN to enumerate with; stoflow_admin has no insert on users; the victim then registers (201)",
    );
  });
});

describe("sudo mode", () => {
  it("opens with the password, for this session only, and closes after REAUTHENTICATION_TTL", async () => {
    const owner = await signUp(gw.url, "Sudo Shop");
    const member = await addTeamMember(gw, owner.tenant.id, "user");
    const otherSession = (await http(gw.url, "POST", "/api/auth/login", { body: { email: owner.email, password: owner.password } })).body
      .access_token;
    const wrong = await http(gw.url, "POST", "/api/auth/confirm-password", {
      token: owner.access_token,
      body: { password: "not the password" },
    });
    expect(answer(wrong)).toBe("403 INVALID_CREDENTIALS");
    expect(answer(await updateUser(owner.access_token, member.id, "role: admin"))).toBe("403 REAUTHENTICATION_REQUIRED");

    const confirmed = await graphql(
      gw.url,
      `
        mutation ($p: String!) {
          confirmPassword(input: { password: $p }) {
            reauthenticatedUntil
          }
        }
      `,
      { p: owner.password },
      owner.access_token,
    );
    const until = Date.parse(confirmed.body.data.confirmPassword.reauthenticatedUntil);
    expect(until - Date.now()).toBeLessThanOrEqual(2_000);
    expect(answer(await updateUser(otherSession, member.id, "role: admin"))).toBe("403 REAUTHENTICATION_REQUIRED"); // another session of the same user
    expect(answer(await updateUser(owner.access_token, member.id, "role: admin"))).toBe("200 ok");
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, until - Date.now()) + 50));
    expect(answer(await updateUser(owner.access_token, member.id, "role: user"))).toBe("403 REAUTHENTICATION_REQUIRED");
    expect((await admins(owner.tenant.id)).map((a) => a.id)).toEqual([owner.user.id, member.id]);
    record(
      "confirm-password with a wrong password; then a sensitive change from another session of the same user; then one after REAUTHENTICATION_TTL (2 s)",
      4,
      "403 INVALID_CREDENTIALS (no sudo mode); 403 REAUTHENTICATION_REQUIRED for the other session; within the window 200; after it 403 again",
    );
  });

  it("ends with the password: a change from another session kills the window of every other session", async () => {
    const owner = await signUp(gw.url, "Reset Shop");
    const thief = owner.access_token;
    await confirmPassword(gw.url, thief);
    const mine = (await http(gw.url, "POST", "/api/auth/login", { body: { email: owner.email, password: owner.password } })).body
      .access_token;
    const changed = await http(gw.url, "POST", "/api/auth/change-password", {
      token: mine,
      body: { current_password: owner.password, new_password: "a brand new password" },
    });
    expect(changed.status).toBe(204);
    const late = await Promise.all([invite(thief, { email: "late@attacker.test", role: "admin" }), deleteTenant(thief, "Reset Shop")]);
    expect(late.map(answer)).toEqual(["401 INVALID_TOKEN", "401 INVALID_TOKEN"]);
    const { rows } = await gw.db.owner.query(
      "select count(*)::int as n from app_private.sessions where user_id = $1 and reauthenticated_until is not null",
      [owner.user.id],
    );
    expect(rows[0].n).toBe(0);
    record(
      "a session in sudo mode after its user changed the password from another session: invite an admin, delete the tenant",
      2,
      "401 INVALID_TOKEN × 2; no session of the user left in sudo mode",
    );
  });

  it("lets operators act without it (no session): the CLI's deletion, an SQL deactivation", async () => {
    const owner = await signUp(gw.url, "Operated Shop");
    const other = await addTeamMember(gw, owner.tenant.id, "admin");
    await gw.db.owner.query("update public.users set is_active = false where id = $1", [other.id]);
    await runTransaction(gw.db.owner, { "jwt.claims.tenant_id": String(owner.tenant.id) }, (client) =>
      client.query("select public.delete_tenant('Operated Shop')"),
    );
    expect((await gw.db.owner.query("select 1 from public.users where id = any($1)", [[owner.user.id, other.id]])).rowCount).toBe(0);
  });
});

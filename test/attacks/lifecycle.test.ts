import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addTeamMember, confirmPassword, graphqlOk, http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { plantEmailChange, plantInvitationToken, plantToken } from "../helpers/mail.ts";
import { recordAttack } from "./recorder.ts";

/**
 * The account lifecycle as a matrix: for each credential event, every credential that hung on
 * the old state (captured before the event) is refused after it. One SQL function revokes them
 * all (app_private.revoke_dependent_credentials); this walks every cell through the API. The
 * subject's session is in sudo mode (it confirmed the password to invite an admin): the event
 * ends that too. The owner acts in sudo mode (ending an admin needs it).
 */

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ TOKEN_ATTEMPTS_PER_ADDRESS: "1000000" });
});
afterAll(() => gw.close());

/** A tenant whose owner acts on `subject`, an admin with everything that can hang on a credential. */
interface Scene {
  owner: Awaited<ReturnType<typeof signUp>>;
  subject: Awaited<ReturnType<typeof addTeamMember>>;
  /** The credentials of the subject captured before the event (its access token's session in sudo mode). */
  held: { access: string; refresh: string; reset: string; verify: string; changeOfAddress: string; invitation: string };
}

async function scene(): Promise<Scene> {
  const owner = await signUp(gw.url, "Lifecycle Shop");
  const subject = await addTeamMember(gw, owner.tenant.id, "admin");
  await confirmPassword(gw.url, owner.access_token);
  await confirmPassword(gw.url, subject.token, subject.password);
  const invited = await http(gw.url, "POST", "/api/auth/invitations", {
    token: subject.token,
    body: { email: `invitee-${subject.id}@lifecycle.test`, role: "admin" },
  });
  expect(invited.status).toBe(201);
  const change = await plantEmailChange(gw.db.owner, subject.id, `moved-${subject.id}@lifecycle.test`);
  return {
    owner,
    subject,
    held: {
      access: subject.token,
      refresh: subject.refreshToken,
      reset: await plantToken(gw.db.owner, subject.id, "reset_password"),
      verify: await plantToken(gw.db.owner, subject.id, "verify_email"),
      changeOfAddress: change.new,
      invitation: await plantInvitationToken(gw.db.owner, invited.body.id),
    },
  };
}

const post = (path: string, body: Record<string, unknown>, token?: string) =>
  http(gw.url, "POST", path, { body, ...(token ? { token } : {}) });
const gql = (query: string, token: string) => graphqlOk(gw.url, query, {}, token);

/** Each event, done the way it happens (through the API, or by an operator in SQL), to the subject of a fresh scene. */
const EVENTS: Record<string, (s: Scene) => Promise<unknown>> = {
  "password changed (from another session)": async ({ subject }) => {
    const other = await post("/api/auth/login", { email: subject.email, password: subject.password });
    const changed = await post(
      "/api/auth/change-password",
      { current_password: subject.password, new_password: "a brand new password" },
      other.body.access_token,
    );
    expect(changed.status).toBe(204);
  },
  "password reset": async ({ subject }) => {
    const link = await plantToken(gw.db.owner, subject.id, "reset_password");
    expect((await post("/api/auth/reset-password", { token: link, new_password: "a reset password" })).status).toBe(204);
  },
  "address changed (both addresses confirmed)": async ({ subject }) => {
    const change = await plantEmailChange(gw.db.owner, subject.id, `elsewhere-${subject.id}@lifecycle.test`);
    await post("/api/auth/confirm-email-change", { token: change.new });
    expect((await post("/api/auth/confirm-email-change", { token: change.old })).body.changed).toBe(true);
  },
  "change of address refused (this was not me)": async ({ subject }) => {
    const change = await plantEmailChange(gw.db.owner, subject.id, `refused-${subject.id}@lifecycle.test`);
    expect((await post("/api/auth/cancel-email-change", { token: change.old })).status).toBe(204);
  },
  "user deactivated": ({ owner, subject }) =>
    gql(`mutation { updateUser(input: { rowId: ${subject.id}, patch: { isActive: false } }) { user { isActive } } }`, owner.access_token),
  "user deleted": ({ owner, subject }) =>
    gql(`mutation { deleteUser(input: { rowId: ${subject.id} }) { user { rowId } } }`, owner.access_token),
  "role lowered (admin to user)": ({ owner, subject }) =>
    gql(`mutation { updateUser(input: { rowId: ${subject.id}, patch: { role: user } }) { user { role } } }`, owner.access_token),
  "tenant deactivated (by an operator)": ({ owner }) =>
    gw.db.owner.query("update public.tenants set is_active = false where id = $1", [owner.tenant.id]),
  "tenant deleted": ({ owner }) =>
    gql(`mutation { deleteTenant(input: { confirmName: "Lifecycle Shop" }) { result } }`, owner.access_token),
};

/** What each held credential answers when it is tried: status and code. */
async function tryAll({ held }: Scene) {
  const code = (res: { status: number; body?: { code?: string } }) => `${res.status} ${res.body?.code ?? ""}`.trim();
  return {
    "access token": code(await http(gw.url, "GET", "/api/auth/session", { token: held.access })),
    "sudo window (an admin invitation)": code(
      await post("/api/auth/invitations", { email: `sudo-${Math.random()}@lifecycle.test`, role: "admin" }, held.access),
    ),
    "refresh token": code(await post("/api/auth/refresh", { refresh_token: held.refresh })),
    "verification link": code(await post("/api/auth/verify-email", { token: held.verify })),
    "change-of-address link": code(await post("/api/auth/confirm-email-change", { token: held.changeOfAddress })),
    "invitation it issued": code(await post("/api/auth/accept-invitation", { token: held.invitation, password: "an invitee password" })),
    // Last: a reset that works is itself a credential event.
    "reset link": code(await post("/api/auth/reset-password", { token: held.reset, new_password: "an attacker's password" })),
  };
}

describe("a credential event revokes every credential that hung on the old state", () => {
  it("holds them all before any event (the matrix's control row)", async () => {
    const s = await scene();
    const answers = await tryAll(s);
    expect(answers).toEqual({
      "access token": "200",
      "sudo window (an admin invitation)": "201",
      "refresh token": "200",
      "reset link": "204",
      "verification link": "204",
      "change-of-address link": "200",
      "invitation it issued": "200",
    });
  });

  it.each(Object.keys(EVENTS))("after %s", async (event) => {
    const s = await scene();
    await EVENTS[event](s);
    const answers = await tryAll(s);
    const refused = {
      "access token": "401 INVALID_TOKEN",
      "sudo window (an admin invitation)": "401 INVALID_TOKEN",
      "refresh token": "401 INVALID_REFRESH_TOKEN",
    };
    expect(answers).toEqual({
      ...refused,
      "reset link": "400 TOKEN_INVALID",
      "verification link": "400 TOKEN_INVALID",
      "change-of-address link": "400 TOKEN_INVALID",
      "invitation it issued": "400 TOKEN_INVALID",
    });
    const { rows } = await gw.db.owner.query(
      "select count(*)::int as n from app_private.sessions where user_id = $1 and reauthenticated_until is not null",
      [s.subject.id],
    );
    expect(rows[0].n).toBe(0);
    recordAttack(
      import.meta.filename,
      "account lifecycle",
      `after ${event}: the old access and refresh tokens, the sudo window of its session, a reset, a verification and a change-of-address link, and an admin invitation the user issued`,
      7,
      "401 × 3 (INVALID_TOKEN × 2, INVALID_REFRESH_TOKEN), 400 TOKEN_INVALID × 4; no session of the user left in sudo mode",
    );
  });
});

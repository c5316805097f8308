import { describe, expect, it } from "vitest";
import { graphqlOk, http, restLogin, signUp } from "../helpers/gateway.ts";
import { linkOf, mailedGateway } from "../helpers/mail.ts";

const { gw, mailbox } = mailedGateway();

const login = (email: string, password: string) => restLogin(gw.url, email, password);

describe("forgot password → reset password", () => {
  it("mails a one-hour link; following it sets the password and ends every session", async () => {
    const shop = await signUp(gw.url, "Forgetful Finds");
    await mailbox.next(shop.email); // the verification message
    const forgot = await http(gw.url, "POST", "/api/auth/forgot-password", { body: { email: shop.email } });
    expect([forgot.status, forgot.body]).toEqual([202, { detail: "If an account fits this address, a message is on its way" }]);

    const mail = await mailbox.next(shop.email);
    expect(mail.subject).toBe("Reset your Stoflow password");
    expect(mail.text).toContain("for 1 hour");
    const { token } = linkOf(mail, "/reset-password");
    const reset = await http(gw.url, "POST", "/api/auth/reset-password", { body: { token, new_password: "a brand new password" } });
    expect(reset.status).toBe(204);

    expect((await http(gw.url, "GET", "/api/auth/session", { token: shop.access_token })).status).toBe(401);
    expect((await http(gw.url, "POST", "/api/auth/refresh", { body: { refresh_token: shop.refresh_token } })).status).toBe(401);
    expect((await login(shop.email, shop.password)).status).toBe(401);
    const signedIn = await login(shop.email, "a brand new password");
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.user.email_verified).toBe(true); // the link proved the address too
  });

  it("works through GraphQL too", async () => {
    const shop = await signUp(gw.url, "Graph Forgetful");
    await mailbox.next(shop.email);
    const forgot = `mutation($e: String!) { forgotPassword(input: { email: $e }) { success } }`;
    expect(await graphqlOk(gw.url, forgot, { e: shop.email })).toEqual({ forgotPassword: { success: true } });
    const { token } = linkOf(await mailbox.next(shop.email), "/reset-password");
    const reset = `mutation($t: String!, $p: String!) { resetPassword(input: { token: $t, newPassword: $p }) { success } }`;
    expect(await graphqlOk(gw.url, reset, { t: token, p: "graph new password" })).toEqual({ resetPassword: { success: true } });
    expect((await login(shop.email, "graph new password")).status).toBe(200);
  });

  it("keeps the raw token out of the database: only its hash is stored", async () => {
    const shop = await signUp(gw.url, "Hashed Links");
    await mailbox.next(shop.email);
    await http(gw.url, "POST", "/api/auth/forgot-password", { body: { email: shop.email } });
    const { token } = linkOf(await mailbox.next(shop.email), "/reset-password");
    const stored = await gw.db.owner.query(
      "select t.purpose, encode(t.token_hash, 'base64') as hash from app_private.user_tokens t where t.user_id = $1 order by t.created_at",
      [shop.user.id],
    );
    expect(stored.rows.map((r) => r.purpose)).toEqual(["verify_email", "reset_password"]);
    const everything = await gw.db.owner.query("select (select string_agg(t::text, ' ') from app_private.user_tokens t) as tokens");
    expect(everything.rows[0].tokens).not.toContain(token);
  });
});

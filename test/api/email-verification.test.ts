import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import { readServerConfig } from "../../src/config/server.ts";
import { createLogger } from "../../src/logger.ts";
import { createMailer } from "../../src/mail/mailer.ts";
import {
  emailChangeMessage,
  invitationMessage,
  MAX_NAME_IN_MAIL,
  quoted,
  validityInWords,
  verificationMessage,
} from "../../src/mail/messages.ts";
import { graphqlOk, http, signUp, TEST_JWT_SECRET, startTestGateway } from "../helpers/gateway.ts";
import { linkOf, mailedGateway, plantToken } from "../helpers/mail.ts";

const { gw, mailbox } = mailedGateway();

const SESSION = "{ currentSession { user { email emailVerified } } }";
const verify = (token: string) => http(gw.url, "POST", "/api/auth/verify-email", { body: { token } });

describe("e-mail verification", () => {
  it("mails a link on registration; following it through the API verifies the address", async () => {
    const shop = await signUp(gw.url, "Verified Vintage");
    expect(shop.user.email_verified).toBe(false);
    expect((await graphqlOk(gw.url, SESSION, {}, shop.access_token)).currentSession.user.emailVerified).toBe(false);

    const mail = await mailbox.next(shop.email);
    expect(mail.subject).toBe("Confirm your e-mail address");
    // The shop's name is the shop's, not a greeting: the person's own name is not known yet.
    expect(mail.text).toMatch(
      /^Hello,\n\nWelcome to Stoflow! This address was given as the sign-in address of the shop “Verified Vintage”\./,
    );
    const { url, token } = linkOf(mail, "/verify-email");
    expect(url.origin).toBe("https://app.stoflow.test");
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 bits, base64url

    expect((await verify(token)).status).toBe(204);
    const session = await http(gw.url, "GET", "/api/auth/session", { token: shop.access_token });
    expect(session.body.user.email_verified).toBe(true);
    expect((await graphqlOk(gw.url, SESSION, {}, shop.access_token)).currentSession.user.emailVerified).toBe(true);
    const stored = await gw.db.owner.query("select is_verified, email_verified_at is not null as dated from public.users where id = $1", [
      shop.user.id,
    ]);
    expect(stored.rows[0]).toEqual({ is_verified: true, dated: true });

    const again = await verify(token);
    expect([again.status, again.body.code]).toEqual([400, "TOKEN_USED"]);
  });

  it("resends through GraphQL, with the same answer for an address nobody registered", async () => {
    const shop = await signUp(gw.url, "Resent Finds");
    const first = await mailbox.next(shop.email);
    const resend = `mutation($e: String!) { resendVerificationEmail(input: { email: $e }) { success } }`;
    expect(await graphqlOk(gw.url, resend, { e: shop.email.toUpperCase() })).toEqual({ resendVerificationEmail: { success: true } });
    expect(await graphqlOk(gw.url, resend, { e: "nobody-here@example.test" })).toEqual({ resendVerificationEmail: { success: true } });
    const second = await mailbox.next(shop.email);
    const { token } = linkOf(second, "/verify-email");
    expect(token).not.toBe(linkOf(first, "/verify-email").token);

    const verifyMutation = `mutation($t: String!) { verifyEmail(input: { token: $t }) { success } }`;
    expect(await graphqlOk(gw.url, verifyMutation, { t: token })).toEqual({ verifyEmail: { success: true } });
    // The first message's link still works once: verifying an address twice changes nothing.
    expect((await verify(linkOf(first, "/verify-email").token)).status).toBe(204);

    const rest = await http(gw.url, "POST", "/api/auth/resend-verification", { body: { email: "nobody-here@example.test" } });
    expect([rest.status, rest.body]).toEqual([202, { detail: "If an account fits this address, a message is on its way" }]);
    expect(mailbox.to("nobody-here@example.test")).toEqual([]);
  });
});

describe("development mail and settings", () => {
  it("refuses sign-in until the address is verified when LOGIN_REQUIRES_VERIFIED_EMAIL=true", async () => {
    const strict = await startTestGateway({ LOGIN_REQUIRES_VERIFIED_EMAIL: "true" });
    try {
      const shop = await signUp(strict.url, "Strict Shop");
      const login = () => http(strict.url, "POST", "/api/auth/login", { body: { email: shop.email, password: shop.password } });
      const refused = await login();
      expect([refused.status, refused.body.code]).toEqual([403, "EMAIL_NOT_VERIFIED"]);
      const token = await plantToken(strict.db.owner, shop.user.id, "verify_email");
      expect((await http(strict.url, "POST", "/api/auth/verify-email", { body: { token } })).status).toBe(204);
      expect((await login()).status).toBe(200);
    } finally {
      await strict.close();
    }
  });

  it("writes each message to the mail folder as an .eml file when no SMTP_URL is set", async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "stoflow-mail-"));
    const config = readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, STOFLOW_DATA_DIR: dataDir });
    expect(config.mail.folder).toBe(path.join(dataDir, "mail"));
    const mailer = createMailer(config.mail, createLogger(undefined, "silent"));
    await mailer.send({
      to: "lou@example.test",
      subject: "Hello",
      text: "Plain https://x.test/verify-email?token=abc",
      html: "<p>Plain</p>",
      link: "https://x.test",
    });
    const [file] = await fs.readdir(config.mail.folder);
    expect(file).toMatch(/\.eml$/);
    const parsed = await simpleParser(await fs.readFile(path.join(config.mail.folder, file)));
    expect([parsed.subject, parsed.text?.trim(), parsed.html]).toEqual([
      "Hello",
      "Plain https://x.test/verify-email?token=abc",
      "<p>Plain</p>",
    ]);
    await fs.rm(dataDir, { recursive: true });
  });

  it("greets a person by their own name once they chose one", async () => {
    const shop = await signUp(gw.url, "Named Later");
    await mailbox.next(shop.email);
    await graphqlOk(
      gw.url,
      `mutation($id: Int!) { updateUser(input: { rowId: $id, patch: { fullName: "Lou Martin" } }) { user { rowId } } }`,
      { id: shop.user.id },
      shop.access_token,
    );
    await http(gw.url, "POST", "/api/auth/resend-verification", { body: { email: shop.email } });
    expect((await mailbox.next(shop.email)).text).toMatch(/^Hello “Lou Martin”,/);
  });

  it("words each link's validity, and escapes names in the HTML body", () => {
    expect([validityInWords(90), validityInWords(3600), validityInWords(7 * 86_400)]).toEqual(["2 minutes", "1 hour", "7 days"]);
    const message = invitationMessage({
      to: "x@example.test",
      shop: `Shop "<script>"`,
      role: "user",
      link: "https://app.test/accept-invitation?token=a&b",
      validity: "7 days",
    });
    expect(message.html).not.toMatch(/<script>/);
    expect(message.html).toContain("&#60;script&#62;");
    expect(message.text).toContain(`the shop “Shop ʼ<script>ʼ” invites you`); // plain text is shown as text; its quotes end no quotation
    expect(message.text).not.toMatch(/reply/i);
  });

  it("puts names in mail as quoted, capped, defanged data: no link, no line break, no lookalike dot", () => {
    expect(quoted("Lou's Vintage")).toBe("“Louʼs Vintage”");
    expect(quoted("see http://evil.example/x or mail@evil.example")).toBe("“see http[:]//evil[.]example/x or mail[@]evil[.]example”");
    expect(quoted("evil\uFF0Eexample and evil\u3002example")).toBe("“evil[.]example and evil[.]example”");
    expect(quoted("two\r\nlines\u2028and\u200Bmore")).toBe("“two lines and more”");
    expect([...quoted("x".repeat(300))]).toHaveLength(MAX_NAME_IN_MAIL + 2);
    const verification = verificationMessage({
      to: "a@b.test",
      name: null,
      shop: "Vintage Lou",
      link: "https://app.test/v",
      validity: "7 days",
    });
    expect(verification.text.startsWith("Hello,\n")).toBe(true);
    const change = emailChangeMessage({
      to: "old@b.test",
      name: "Lou",
      newEmail: "new@evil.test",
      link: "https://app.test/c",
      cancelLink: "https://app.test/x",
      validity: "1 day",
    });
    expect(change.text).toContain("to “new[@]evil[.]test”");
    expect(change.text).toContain("This was not me: https://app.test/x");
    expect(change.text).not.toMatch(/reply/i);
  });

  it("refuses to start in production without SMTP_URL", () => {
    expect(() => readServerConfig({ NODE_ENV: "production", JWT_SECRET: TEST_JWT_SECRET })).toThrow(/SMTP_URL must be set/);
    expect(
      readServerConfig({
        NODE_ENV: "production",
        JWT_SECRET: TEST_JWT_SECRET,
        SMTP_URL: "smtp://relay:587",
        APP_URL: "https://app.example",
      }).mail.smtpUrl,
    ).toBe("smtp://relay:587");
  });
});

import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { simpleParser, type ParsedMail } from "mailparser";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPage, skipWithoutBrowser, type BrowserPage } from "../helpers/browser.ts";
import { http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { until } from "../helpers/until.ts";

/**
 * A developer's first sign-up, as in the README: no SMTP_URL and no APP_URL, so the verification
 * message is an .eml file in the data folder whose link leads to this server, which answers it
 * with a page of its own. Headless Chromium opens the message, clicks its link, and confirms.
 */
const skip = skipWithoutBrowser("link-pages-browser");

let gw: TestGateway;
let dataDir: string;
let opened: BrowserPage;
let page: Page;

beforeAll(async () => {
  if (skip) return;
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "stoflow-dev-mail-"));
  gw = await startTestGateway({
    JOBS_IN_PROCESS: "true",
    JOBS_POLL_INTERVAL_MS: "200",
    SMTP_URL: undefined,
    APP_URL: undefined,
    STOFLOW_DATA_DIR: dataDir,
  });
  opened = await openPage(gw.url);
  page = opened.page;
});
afterAll(async () => {
  await opened?.browser.close();
  await gw?.close();
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
});

/** The development message written for `to` whose HTML links to `linkPath` (an .eml file in STOFLOW_DATA_DIR/mail). */
async function developmentMail(to: string, linkPath = "/verify-email"): Promise<ParsedMail> {
  const folder = path.join(dataDir, "mail");
  let found: ParsedMail | undefined;
  await until(`a development message to ${to}`, async () => {
    const files = await fs.readdir(folder).catch(() => []);
    const mails = await Promise.all(files.map(async (file) => simpleParser(await fs.readFile(path.join(folder, file)))));
    found = mails.find((mail) => JSON.stringify(mail.to).includes(to) && String(mail.html).includes(`${linkPath}?token=`));
    return found !== undefined;
  });
  return found!;
}

describe.skipIf(skip)("the link of a development message, in headless Chromium", () => {
  it("leads to this server's page, which verifies the address", async () => {
    const shop = await signUp(gw.url, "First Hour Shop");
    const mail = await developmentMail(shop.email);
    await page.setContent(String(mail.html));
    const link = page.locator('a[href*="/verify-email?token="]');
    expect(new URL((await link.getAttribute("href"))!).origin).toBe(gw.url); // APP_URL defaults to the server's own address
    await link.click();
    await page.waitForURL(`${gw.url}/verify-email`); // the token is taken out of the address bar
    await page.getByRole("button", { name: "Confirm my address" }).click();
    await page.getByRole("status").getByText("Your address is verified.").waitFor();
    await page.screenshot({ path: "artifacts/verify-email.png" });

    const session = await http(gw.url, "GET", "/api/auth/session", { token: shop.access_token });
    expect(session.body.user.email_verified).toBe(true);
    expect(opened.elsewhere).toEqual([]);
  });

  it("leads to a form that resets the password", async () => {
    const shop = await signUp(gw.url, "Forgetful Shop");
    expect((await http(gw.url, "POST", "/api/auth/forgot-password", { body: { email: shop.email } })).status).toBe(202);
    await page.setContent(String((await developmentMail(shop.email, "/reset-password")).html));
    await page.locator('a[href*="/reset-password?token="]').click();
    await page.getByLabel("New password").fill("a brand new password");
    await page.getByRole("button", { name: "Set my new password" }).click();
    await page.getByRole("status").getByText("Your password is changed").waitFor();
    expect((await http(gw.url, "POST", "/api/auth/login", { body: { email: shop.email, password: "a brand new password" } })).status).toBe(
      200,
    );
  });

  it("says what went wrong when the link was already used", async () => {
    const shop = await signUp(gw.url, "Used Link Shop");
    const mail = await developmentMail(shop.email);
    const href = String(mail.html)
      .match(/href="([^"]*\/verify-email\?token=[^"]*)"/)![1]
      .replaceAll("&#38;", "&");
    for (let visit = 0; visit < 2; visit++) {
      await page.goto(href);
      await page.getByRole("button", { name: "Confirm my address" }).click();
      await page
        .getByRole("status")
        .getByText(visit === 0 ? "Your address is verified." : "This link was already used")
        .waitFor();
    }
  });
});

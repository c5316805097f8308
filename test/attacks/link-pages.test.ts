import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LINK_PATHS } from "../../src/mail/messages.ts";
import { http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { plantToken } from "../helpers/mail.ts";
import { attackRecorder } from "./recorder.ts";

/**
 * The development pages of e-mailed links (served without APP_URL): a GET never acts, nothing of
 * the address is echoed into the page, the page cannot be framed, cached or leak its address, and
 * production never serves them.
 */
const record = attackRecorder(import.meta.filename, "e-mailed links' pages");

let dev: TestGateway;
beforeAll(async () => {
  dev = await startTestGateway({ APP_URL: undefined });
});
afterAll(() => dev?.close());

const PATHS = Object.values(LINK_PATHS);

describe("the development pages of e-mailed links", () => {
  it("opening a link (a mail scanner's GET) uses nothing: the token still works once, afterwards", async () => {
    const shop = await signUp(dev.url);
    const token = await plantToken(dev.db.owner, shop.user.id, "verify_email");
    for (let i = 0; i < 3; i++) expect((await fetch(`${dev.url}${LINK_PATHS.verify_email}?token=${token}`)).status).toBe(200);
    expect((await http(dev.url, "GET", "/api/auth/session", { token: shop.access_token })).body.user.email_verified).toBe(false);
    expect((await http(dev.url, "POST", "/api/auth/verify-email", { body: { token } })).status).toBe(204);
    record("a scanner opens a verification link 3 times before its owner", 3, "200 page, token unused; then 204 for the owner");
  });

  it("echoes nothing of its address: a token of markup and script leaves the page as it is", async () => {
    const hostile = encodeURIComponent(`"><script>alert(1)</script><img src=x onerror=alert(1)>`);
    for (const path of PATHS) {
      const plain = await (await fetch(`${dev.url}${path}?token=abc`)).text();
      expect(await (await fetch(`${dev.url}${path}?token=${hostile}&next=//evil.example`)).text()).toBe(plain);
    }
    record("markup and script in the token and extra parameters of every page", PATHS.length, "the same page, byte for byte");
  });

  it("cannot be framed, cached, or leak its address, and runs only its own script", async () => {
    for (const path of PATHS) {
      const { headers } = await fetch(`${dev.url}${path}?token=abc`);
      expect(headers.get("content-security-policy")).toMatch(
        /default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'/,
      );
      expect(headers.get("x-frame-options")).toBe("DENY");
      expect(headers.get("cache-control")).toBe("no-store");
      expect(headers.get("referrer-policy")).toBe("no-referrer");
    }
    record(
      "frame a link page, cache it, read its address through the referrer, inject a script",
      PATHS.length,
      "CSP with hashed script, DENY, no-store, no-referrer",
    );
  });

  it("are not served in production", async () => {
    const production = await startTestGateway({ NODE_ENV: "production" });
    try {
      for (const path of PATHS) expect((await fetch(`${production.url}${path}?token=abc`)).status).toBe(404);
    } finally {
      await production.close();
    }
    record("open the link pages of a production server", PATHS.length, "404");
  });
});

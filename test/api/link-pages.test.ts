import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readServerConfig } from "../../src/config/server.ts";
import { LINK_PAGES } from "../../src/http/link-pages.ts";
import { LINK_PATHS } from "../../src/mail/messages.ts";
import { http, startTestGateway, TEST_JWT_SECRET, type TestGateway } from "../helpers/gateway.ts";

/** The development pages of e-mailed links (src/http/link-pages.ts): one per link, each posting what its route takes. */
let dev: TestGateway;
beforeAll(async () => {
  dev = await startTestGateway({ APP_URL: undefined });
});
afterAll(() => dev?.close());

type Schema = { $ref?: string; required?: string[] };

describe("the pages of e-mailed links, without APP_URL", () => {
  it("APP_URL defaults to the server's own address, with PORT; production requires it", () => {
    expect(readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, PORT: "3126" }).mail).toMatchObject({
      appUrl: "http://localhost:3126",
      ownLinkPages: true,
    });
    expect(readServerConfig({ JWT_SECRET: TEST_JWT_SECRET }).mail.appUrl).toBe("http://localhost:3000");
    expect(readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, APP_URL: "https://app.example/" }).mail).toMatchObject({
      appUrl: "https://app.example",
      ownLinkPages: false,
    });
    expect(() => readServerConfig({ NODE_ENV: "production", JWT_SECRET: TEST_JWT_SECRET, SMTP_URL: "smtp://relay:587" })).toThrow(
      /APP_URL must be set in production/,
    );
  });

  it("every link a message carries has a page, which posts the token and the fields its route requires, no more", async () => {
    const document = (await http(dev.url, "GET", "/openapi.json")).body;
    const resolve = (schema: Schema): Schema => (schema.$ref ? document.components.schemas[schema.$ref.split("/").pop()!] : schema);
    for (const path of Object.values(LINK_PATHS)) {
      const page = LINK_PAGES[path];
      expect(page, `${path} has no page in LINK_PAGES`).toBeDefined();
      const body = document.paths[page.route]?.post?.requestBody?.content["application/json"].schema as Schema;
      expect(body, `${path} posts to ${page.route}, which is not a documented POST`).toBeDefined();
      expect(["token", ...page.fields.map((field) => field.name)].sort()).toEqual([...resolve(body).required!].sort());

      const res = await fetch(`${dev.url}${path}?token=abc`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      expect(await res.text()).toContain(`data-route="${page.route}"`);
    }
  });

  it("are not served when APP_URL names the application (nor in production, which requires it)", async () => {
    const withApp = await startTestGateway({ APP_URL: "https://app.stoflow.test" });
    try {
      for (const path of Object.values(LINK_PATHS)) expect((await fetch(`${withApp.url}${path}?token=abc`)).status).toBe(404);
    } finally {
      await withApp.close();
    }
  });
});

import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPage, skipWithoutBrowser, type BrowserPage } from "../helpers/browser.ts";
import { graphqlOk, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { until } from "../helpers/until.ts";

const skip = skipWithoutBrowser("explorer-browser");

let gw: TestGateway;
let opened: BrowserPage;
let page: Page;
/** Requests the page tried to send anywhere but our server (a CDN would break the explorer offline). */
let elsewhere: string[];

beforeAll(async () => {
  if (skip) return;
  gw = await startTestGateway();
  opened = await openPage(gw.url);
  ({ page, elsewhere } = opened);
});
afterAll(async () => {
  await opened?.browser.close();
  await gw?.close();
});

/** Replaces a Monaco editor's text (what Monaco closes by itself after the typed text is removed). */
async function fill(editor: Locator, text: string) {
  await editor.click();
  await page.keyboard.press("Control+A");
  await page.keyboard.insertText(text);
  await page.keyboard.press("Shift+Control+End");
  await page.keyboard.press("Delete");
}

/** Types `document` and the Authorization header of `token` into the explorer, then runs it. */
async function execute(document: string, token: string) {
  await fill(page.locator(".graphiql-query-editor .monaco-editor"), document);
  await page.getByRole("button", { name: "Headers" }).click();
  await fill(
    page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .monaco-editor"),
    JSON.stringify({ Authorization: `Bearer ${token}` }),
  );
  await page.getByRole("button", { name: /Execute query/ }).click();
}

describe.skipIf(skip)("the explorer at /graphiql, in headless Chromium", () => {
  it("loads the documented schema, runs a tenant query with the Authorization header, shows the result", async () => {
    const shop = await signUp(gw.url, "Browser Shop");
    await page.goto(`${gw.url}/graphiql`);
    await page.getByRole("button", { name: "Show Documentation Explorer" }).click();
    const docs = page.locator(".graphiql-doc-explorer");
    await docs.getByText("Query", { exact: true }).first().click();
    await docs.getByText("currentTenantUsage").first().waitFor();

    await execute("{ currentSession { tenant { name } } products { totalCount } }", shop.access_token);
    const response = page.locator(".graphiql-response");
    await response.getByText("totalCount").waitFor();

    const shown = (await response.locator(".view-lines").innerText()).replace(/\u00a0/g, " ");
    expect(JSON.parse(shown)).toEqual({
      data: { currentSession: { tenant: { name: "Browser Shop" } }, products: { totalCount: 0 } },
    });
    expect(elsewhere).toEqual([]);
    await page.screenshot({ path: "artifacts/explorer.png" });
  });

  it("runs a subscription over its WebSocket with the Authorization header, and shows the event a write causes", async () => {
    const shop = await signUp(gw.url, "Live Browser Shop");
    await page.goto(`${gw.url}/graphiql`);
    await execute("subscription { productChanged { event sku product { title } } }", shop.access_token);
    await until("the explorer's socket", () => gw.live.hub.subscriptions > 0, 15_000);
    await graphqlOk(
      gw.url,
      `mutation { createProduct(input: { product: { sku: "LIVE-UI", title: "Seen live", price: "3.00" } }) { product { sku } } }`,
      {},
      shop.access_token,
    );
    const response = page.locator(".graphiql-response");
    await response.getByText("Seen live").waitFor();
    const shown = (await response.locator(".view-lines").innerText()).replace(/\u00a0/g, " ");
    expect(JSON.parse(shown)).toEqual({ data: { productChanged: { event: "CREATED", sku: "LIVE-UI", product: { title: "Seen live" } } } });
    expect(elsewhere).toEqual([]);
  });

  it("shows the REST routes' OpenAPI document at /docs, offline", async () => {
    await page.goto(`${gw.url}/docs/`);
    await page.getByText("Stoflow REST API").first().waitFor();
    await page.getByText("/api/auth/register").first().waitFor();
    // One block per operation of the document the server publishes.
    const document = (await (await fetch(`${gw.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.values(document.paths).flatMap((path) => Object.keys(path)).length;
    expect(operations).toBeGreaterThan(9);
    expect(await page.locator(".opblock").count()).toBe(operations);
    expect(elsewhere).toEqual([]);
    await page.screenshot({ path: "artifacts/docs.png" });
  });
});

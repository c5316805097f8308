import fs from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";

/** Debian's chromium (npm's browser downloads are not reachable here); CI installs it (.ci/run). */
const CHROMIUM = "/usr/bin/chromium";

/** In CI a missing browser fails the test (launch throws); elsewhere the test is skipped, and says why. */
export function skipWithoutBrowser(test: string): boolean {
  const skip = !fs.existsSync(CHROMIUM) && !process.env.CI;
  if (skip) console.warn(`${test}: skipped, ${CHROMIUM} is missing (apt-get install chromium)`);
  return skip;
}

export interface BrowserPage {
  browser: Browser;
  page: Page;
  /** Requests the page tried to send anywhere but `origin` (aborted: a CDN would break the page offline). */
  elsewhere: string[];
}

/** Headless Chromium with one page that may reach `origin` only; screenshots go to artifacts/. */
export async function openPage(origin: string): Promise<BrowserPage> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  fs.mkdirSync("artifacts", { recursive: true });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const elsewhere: string[] = [];
  await page.route("**/*", (route) => {
    if (route.request().url().startsWith(origin)) return route.continue();
    elsewhere.push(route.request().url());
    return route.abort();
  });
  return { browser, page, elsewhere };
}

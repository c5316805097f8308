import type { JobHelpers } from "graphile-worker";
import pg from "pg";
import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { billingClockTask, billingCronItems } from "../../src/jobs/billing.ts";
import { readServerConfig } from "../../src/config/server.ts";
import {
  addTeamMember,
  graphql,
  http,
  signUp,
  startTestGateway,
  TEST_JWT_SECRET,
  withServer,
  type TestGateway,
} from "../helpers/gateway.ts";
import { deliverQueuedMail, startMailbox, type Mailbox } from "../helpers/mail.ts";
import { sendEvent, startStripeStandIn, stripeEvent, stripeObjects, WEBHOOK_SECRET } from "../helpers/stripe.ts";

/**
 * The billing boundary as a client sees it: Checkout pages (REST and GraphQL) against a local
 * stand-in of Stripe's API, the subscription's state, the trial's end with the clock set in SQL,
 * and what BILLING=none does in development and in production.
 */
let gw: TestGateway;
let stripe: Awaited<ReturnType<typeof startStripeStandIn>>;
let mailbox: Mailbox;
beforeAll(async () => {
  [stripe, mailbox] = await Promise.all([startStripeStandIn(), startMailbox()]);
  gw = await startTestGateway({ ...stripe.env, SMTP_URL: mailbox.url });
});
afterAll(async () => {
  await gw?.close();
  await Promise.all([stripe?.close(), mailbox?.close()]);
});

const STATE = "{ currentSubscriptionPeriod { tier status trialEndsAt nextBillingDate graceEndsAt cancelsAt } }";

describe("paying: a Checkout page for the admin", () => {
  it("REST: 201 with Stripe's page, made with the tenant id as client reference and the tier's price; recorded for that tenant", async () => {
    const shop = await signUp(gw.url);
    const answer = await http(gw.url, "POST", "/api/billing/checkout", { token: shop.access_token, body: { tier: "premium" } });
    expect(answer.status).toBe(201);
    expect(answer.body).toEqual({
      id: expect.stringMatching(/^cs_test_/),
      url: expect.stringMatching(/^https:\/\/checkout\.stripe\.test\//),
    });
    expect(stripe.requests.at(-1)).toMatchObject({
      mode: "subscription",
      client_reference_id: String(shop.tenant.id),
      "line_items[0][price]": "price_premium",
      "line_items[0][quantity]": "1",
      success_url: "https://app.stoflow.test/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}",
      authorization: "Bearer sk_test_stand_in",
    });
    const { rows } = await gw.db.owner.query("select tenant_id, tier from app_private.checkout_sessions where id = $1", [answer.body.id]);
    expect(rows).toEqual([{ tenant_id: shop.tenant.id, tier: "premium" }]);
  });

  it("GraphQL createCheckoutSession; refusals: not an admin (FORBIDDEN), a tier without a price (INVALID_INPUT), anonymous (401)", async () => {
    const shop = await signUp(gw.url);
    const created = await graphql(
      gw.url,
      'mutation { createCheckoutSession(input: { tier: "standard" }) { sessionId url } }',
      {},
      shop.access_token,
    );
    expect(created.body.data.createCheckoutSession).toEqual({ sessionId: expect.stringMatching(/^cs_test_/), url: expect.any(String) });
    expect(stripe.requests.at(-1)).toMatchObject({ "line_items[0][price]": "price_standard" });

    const unpriced = await http(gw.url, "POST", "/api/billing/checkout", { token: shop.access_token, body: { tier: "enterprise" } });
    expect(unpriced).toMatchObject({
      status: 422,
      body: { code: "INVALID_INPUT", detail: expect.stringMatching(/STRIPE_PRICE_ENTERPRISE/) },
    });
    expect((await http(gw.url, "POST", "/api/billing/checkout", { body: { tier: "standard" } })).status).toBe(401);
    // Stripe refuses the call (an unknown price): 502, its words in the log only; nothing recorded.
    const sessions = async () => (await gw.db.owner.query("select count(*)::int as n from app_private.checkout_sessions")).rows[0].n;
    const before = await sessions();
    expect(await http(gw.url, "POST", "/api/billing/checkout", { token: shop.access_token, body: { tier: "business" } })).toMatchObject({
      status: 502,
      body: { code: "BILLING_UNAVAILABLE", detail: "The payment provider did not take the request; retry later" },
    });
    expect(await sessions()).toBe(before);

    const viewer = await addTeamMember(gw, shop.tenant.id, "user");
    const refused = await graphql(gw.url, 'mutation { createCheckoutSession(input: { tier: "standard" }) { url } }', {}, viewer.token);
    expect(refused.body.errors![0].extensions?.code).toBe("FORBIDDEN");
    expect(await http(gw.url, "GET", "/api/billing/subscription", { token: viewer.token })).toMatchObject({
      status: 403,
      body: { code: "FORBIDDEN" },
    });
    expect((await graphql(gw.url, STATE, {}, viewer.token)).body.errors![0].extensions?.code).toBe("FORBIDDEN");
  });

  it("the subscription's state for the admin: REST and GraphQL, trialing with its end", async () => {
    const shop = await signUp(gw.url, undefined, "standard");
    const rest = await http(gw.url, "GET", "/api/billing/subscription", { token: shop.access_token });
    expect(rest).toMatchObject({ status: 200, body: { tier: "standard", status: "trialing", next_billing_date: null, cancels_at: null } });
    const days = (Date.parse(rest.body.trial_ends_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(13.9);
    expect(days).toBeLessThanOrEqual(14);
    const { data } = (await graphql(gw.url, STATE, {}, shop.access_token)).body;
    expect(data.currentSubscriptionPeriod).toMatchObject({ tier: "standard", status: "trialing", nextBillingDate: null });
  });
});

describe("the trial's end (clock set in SQL)", () => {
  it("mails the admin before and at the end, falls back to starter and keeps 60 products: new ones refused, nothing deleted", async () => {
    const shop = await signUp(gw.url, "Trial Shop", "standard");
    await gw.db.owner.query(
      `insert into client_${shop.tenant.id}.products (sku, title, price) select 'T-' || i, 'Item ' || i, 5 from generate_series(1, 60) i`,
    );
    const clock = (days: number) =>
      gw.db.owner.query("select app_private.run_billing_clock(now() + make_interval(days => $1), '3 days')", [days]);
    await clock(12);
    await clock(15);
    await deliverQueuedMail(gw, mailbox);
    const mails = new Map(mailbox.to(shop.email).map((mail) => [mail.subject, mail.text]));
    expect([...mails.keys()].sort()).toEqual([
      "Confirm your e-mail address",
      "Your Stoflow trial ends soon",
      "Your Stoflow trial has ended",
    ]);
    expect(mails.get("Your Stoflow trial has ended")).toContain("“standard” trial of the shop “Trial Shop” ended on");
    expect(mails.get("Your Stoflow trial ends soon")).toContain("https://app.stoflow.test/billing");

    const state = await http(gw.url, "GET", "/api/billing/subscription", { token: shop.access_token });
    expect(state.body).toMatchObject({ tier: "starter", status: "active" });
    const create = await graphql(
      gw.url,
      `
        mutation {
          createProduct(input: { product: { sku: "T-61", title: "One more", price: "5" } }) {
            product {
              sku
            }
          }
        }
      `,
      {},
      shop.access_token,
    );
    expect(create.body.errors![0]).toMatchObject({
      message: "Product limit reached: the starter tier allows 50 active products and 60 are in use",
      extensions: { code: "LIMIT_REACHED" },
    });
    expect((await graphql(gw.url, "{ products { totalCount } }", {}, shop.access_token)).body.data.products.totalCount).toBe(60);
  });
});

describe("the webhook's body", () => {
  it("is read raw, within 256 kB (413 beyond), and checked against the signature whatever its media type", async () => {
    const large = stripeEvent("invoice.paid", { ...stripeObjects.invoice("cus_big", "sub_big", 1), padding: "x".repeat(300 * 1024) });
    expect(await sendEvent(gw.url, large)).toMatchObject({ status: 413, body: { code: "BAD_REQUEST" } });
    const event = JSON.stringify(stripeEvent("invoice.payment_failed", stripeObjects.invoice("cus_text", "sub_text", 1)));
    const signature = Stripe.webhooks.generateTestHeaderString({ payload: event, secret: WEBHOOK_SECRET });
    const asText = await http(gw.url, "POST", "/api/billing/stripe/webhook", {
      body: event,
      headers: { "content-type": "text/plain", "stripe-signature": signature },
    });
    expect(asText).toMatchObject({ status: 200, body: { received: true, outcome: "ignored: no tenant of ours" } });
  });
});

describe("the job worker's billing clock", () => {
  it("runs every 10 minutes (its crontab); the task runs the clock now, as stoflow_worker", async () => {
    expect(billingCronItems()).toMatchObject([{ task: "billing_clock", identifier: "billing_clock" }]);
    const shop = await signUp(gw.url, undefined, "premium");
    await gw.db.owner.query(
      "update subscriptions set trial_ends_at = now() - interval '1 minute' where tenant_id = $1 and end_date is null",
      [shop.tenant.id],
    );
    const url = new URL(gw.db.jobsUrl);
    url.searchParams.set("options", "-c role=stoflow_worker");
    const pool = new pg.Pool({ connectionString: url.toString(), max: 1 });
    try {
      await billingClockTask(pool, 3)({}, {} as JobHelpers);
    } finally {
      await pool.end();
    }
    expect((await http(gw.url, "GET", "/api/billing/subscription", { token: shop.access_token })).body).toMatchObject({
      tier: "starter",
      status: "active",
    });
  });
});

describe("BILLING=none", () => {
  /** What a premium registration, then an upgrade to enterprise, give on the server at `url`. */
  async function premiumThenEnterprise(url: string) {
    const shop = await signUp(url, undefined, "premium");
    const registered = (await http(url, "GET", "/api/billing/subscription", { token: shop.access_token })).body;
    const change = await graphql(
      url,
      'mutation { changeSubscriptionTier(input: { newTier: "enterprise" }) { result { tier status } } }',
      {},
      shop.access_token,
    );
    return { shop, registered: registered.status as string, upgraded: change.body.data.changeSubscriptionTier.result.status as string };
  }

  it("in development: a paid tier is active at once; Checkout and the webhook answer BILLING_DISABLED", async () => {
    await withServer(gw, { BILLING: "none" }, async (url) => {
      const { shop, registered, upgraded } = await premiumThenEnterprise(url);
      expect([registered, upgraded]).toEqual(["active", "active"]);
      expect(await http(url, "POST", "/api/billing/checkout", { token: shop.access_token, body: { tier: "standard" } })).toMatchObject({
        status: 409,
        body: { code: "BILLING_DISABLED" },
      });
      const event = stripeEvent("invoice.paid", stripeObjects.invoice("cus_none", "sub_none", 2_000_000_000));
      const pathOfWebhook = await sendEvent(url, event);
      expect(pathOfWebhook).toMatchObject({ status: 409, body: { code: "BILLING_DISABLED" } });
    });
  });

  it("in production: trials, and no payment path: only the operator's tenants:set-tier (test/db/cli-commands.test.ts) makes a paid tier active", async () => {
    await withServer(gw, { BILLING: "none", NODE_ENV: "production" }, async (url) => {
      const { shop, registered, upgraded } = await premiumThenEnterprise(url);
      expect([registered, upgraded]).toEqual(["trialing", "trialing"]);
      expect((await http(url, "POST", "/api/billing/checkout", { token: shop.access_token, body: { tier: "premium" } })).status).toBe(409);
    });
  });

  it("BILLING=stripe without a secret or a price refuses to start, naming the setting", () => {
    const base = { JWT_SECRET: TEST_JWT_SECRET, BILLING: "stripe" };
    expect(() => readServerConfig(base)).toThrow("BILLING=stripe needs STRIPE_SECRET_KEY");
    expect(() => readServerConfig({ ...base, STRIPE_SECRET_KEY: "sk" })).toThrow("BILLING=stripe needs STRIPE_WEBHOOK_SECRET");
    expect(() => readServerConfig({ ...base, STRIPE_SECRET_KEY: "sk", STRIPE_WEBHOOK_SECRET: "wh" })).toThrow(/STRIPE_PRICE_STANDARD/);
    expect(() => readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, BILLING: "paypal" })).toThrow(
      'BILLING must be none or stripe (got "paypal")',
    );
    expect(() =>
      readServerConfig({
        ...base,
        STRIPE_SECRET_KEY: "sk",
        STRIPE_WEBHOOK_SECRET: "wh",
        STRIPE_PRICE_PREMIUM: "p",
        STRIPE_API_BASE: "ftp://x",
      }),
    ).toThrow(/STRIPE_API_BASE/);
  });
});

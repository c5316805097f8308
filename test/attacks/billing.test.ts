import Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { sendEvent, startStripeStandIn, stripeEvent, stripeObjects, WEBHOOK_SECRET } from "../helpers/stripe.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "billing");

/**
 * The billing boundary under attack: a tenant that wants a paid tier without paying, and an
 * internet that sends the webhook forged, replayed, out-of-order or other tenants' events. The
 * server runs BILLING=stripe against a local stand-in of Stripe's API; events are signed with the
 * stripe package's own test-header helper.
 */
let gw: TestGateway;
let stripe: Awaited<ReturnType<typeof startStripeStandIn>>;
beforeAll(async () => {
  stripe = await startStripeStandIn();
  gw = await startTestGateway(stripe.env);
});
afterAll(async () => {
  await gw?.close();
  await stripe?.close();
});

async function period(tenantId: number) {
  const { rows } = await gw.db.owner.query(
    "select tier, status::text, payment_method, grace_ends_at, cancels_at from subscriptions where tenant_id = $1 and end_date is null",
    [tenantId],
  );
  return rows[0];
}

const CHANGE_TIER = "mutation ($tier: String!) { changeSubscriptionTier(input: { newTier: $tier }) { result { tier status } } }";

/** A paid tenant: its admin's Checkout, then Stripe's signed checkout.session.completed. */
async function paying(tier = "standard") {
  const shop = await signUp(gw.url);
  const checkout = await http(gw.url, "POST", "/api/billing/checkout", { token: shop.access_token, body: { tier } });
  expect(checkout.status).toBe(201);
  const ids = { customer: `cus_${shop.tenant.id}_${process.pid}`, subscription: `sub_${shop.tenant.id}_${process.pid}` };
  const completed = stripeEvent(
    "checkout.session.completed",
    stripeObjects.checkoutCompleted(checkout.body.id, shop.tenant.id, ids.customer, ids.subscription),
  );
  expect((await sendEvent(gw.url, completed)).body).toEqual({ received: true, outcome: "applied" });
  return { shop, session: checkout.body.id as string, completed, ...ids };
}

describe("a tenant that wants a paid tier without paying", () => {
  it("registers straight onto enterprise: 201 with the seed's JSON, trialing, never active", async () => {
    const rest = await signUp(gw.url, "Free Rider", "enterprise");
    expect(rest.tenant).toMatchObject({ subscription_tier: "enterprise" });
    const { data } = (
      await graphql(
        gw.url,
        `mutation { register(input: { name: "Free Rider GQL", email: "rider-${process.pid}@example.test", password: "correct horse battery", subscriptionTier: "enterprise" }) { accessToken tenant { rowId subscriptionTier } } }`,
      )
    ).body;
    for (const tenantId of [rest.tenant.id, data.register.tenant.rowId]) {
      expect(await period(tenantId)).toMatchObject({ tier: "enterprise", status: "trialing", payment_method: null });
    }
    record(
      "register straight onto enterprise (REST subscription_tier, GraphQL subscriptionTier)",
      2,
      "201 with the seed's JSON; the subscription is trialing (TRIAL_DAYS), never active without a signed payment event",
    );
  });

  it("changeSubscriptionTier to every paid tier: trials once each, then PAYMENT_REQUIRED; never active", async () => {
    const shop = await signUp(gw.url);
    const change = async (tier: string) => (await graphql(gw.url, CHANGE_TIER, { tier }, shop.access_token)).body;
    for (const tier of ["standard", "premium", "business", "enterprise"]) {
      expect((await change(tier)).data.changeSubscriptionTier.result).toEqual({ tier, status: "trialing" });
    }
    expect((await change("starter")).data.changeSubscriptionTier.result).toEqual({ tier: "starter", status: "active" });
    for (const tier of ["standard", "premium", "business", "enterprise"]) {
      const refused = await change(tier);
      expect(refused.data.changeSubscriptionTier).toBeNull();
      expect(refused.errors![0].extensions?.code).toBe("PAYMENT_REQUIRED");
    }
    const { rows } = await gw.db.owner.query(
      "select count(*)::int as n from subscriptions where tenant_id = $1 and status = 'active' and price_monthly > 0",
      [shop.tenant.id],
    );
    expect(rows[0].n).toBe(0);
    record(
      "changeSubscriptionTier up to each paid tier, down to starter, then up again",
      8,
      "each paid tier once as a trial; again: PAYMENT_REQUIRED; no period is ever active on a paid tier",
    );
  });

  it("asks for 20 Checkout pages in one request: refused before any call to Stripe", async () => {
    const shop = await signUp(gw.url);
    const before = stripe.requests.length;
    const fields = Array.from({ length: 20 }, (_, i) => `p${i}: createCheckoutSession(input: { tier: "standard" }) { url }`).join(" ");
    const answer = await graphql(gw.url, `mutation { ${fields} }`, {}, shop.access_token);
    expect(answer.body.errors![0].extensions?.code).toBe("TOO_MANY_OPERATIONS");
    expect(stripe.requests.length).toBe(before);
    record(
      "20 aliased createCheckoutSession in one GraphQL request (20 calls to Stripe for one request)",
      1,
      "TOO_MANY_OPERATIONS before execution: at most one call to the payment provider per request, none made",
    );
  });

  it("the API has no mutation that writes a subscription's status or a tenant's tier", async () => {
    const { data } = (await graphql(gw.url, "{ __schema { mutationType { fields { name } } } }")).body;
    const mutations: string[] = data.__schema.mutationType.fields.map((f: { name: string }) => f.name);
    expect(mutations.filter((name) => /subscription|tenant|tier|billing|payment/i.test(name)).sort()).toEqual([
      "changeSubscriptionTier",
      "deleteTenant",
    ]);
    expect(mutations).toContain("createCheckoutSession");
    record(
      "look for a mutation writing subscriptions, tenants' tier or status, or billing fields",
      1,
      "none: changeSubscriptionTier (trials and downgrades), createCheckoutSession (a Stripe page) and deleteTenant only; SQL grants no stoflow_* role INSERT or UPDATE on them (test/sql/billing.test.ts)",
    );
  });
});

describe("the webhook against forged, replayed, out-of-order and other tenants' events", () => {
  it("refuses events not signed with the endpoint's secret, or whose body changed after signing, or too old: 400 INVALID_SIGNATURE", async () => {
    const shop = await signUp(gw.url);
    const checkout = await http(gw.url, "POST", "/api/billing/checkout", { token: shop.access_token, body: { tier: "premium" } });
    const event = stripeEvent(
      "checkout.session.completed",
      stripeObjects.checkoutCompleted(checkout.body.id, shop.tenant.id, "cus_f", "sub_f"),
    );
    const payload = JSON.stringify(event);
    const forged = [
      await sendEvent(gw.url, event, { secret: "whsec_guessed" }),
      await sendEvent(gw.url, event, { signature: "" }),
      await sendEvent(gw.url, event, { signature: `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}` }),
      await sendEvent(gw.url, payload.replace('"premium"', '"premium"').replace('"paid"', '"paid" '), {
        signature: Stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET }),
      }),
      await sendEvent(gw.url, event, {
        signature: Stripe.webhooks.generateTestHeaderString({
          payload,
          secret: WEBHOOK_SECRET,
          timestamp: Math.floor(Date.now() / 1000) - 600,
        }),
      }),
    ];
    for (const answer of forged) expect(answer).toMatchObject({ status: 400, body: { code: "INVALID_SIGNATURE" } });
    expect(await period(shop.tenant.id)).toMatchObject({ tier: "starter", status: "active" });
    const { rows } = await gw.db.owner.query("select count(*)::int as n from app_private.billing_events where id = $1", [event.id]);
    expect(rows[0].n).toBe(0);
    record(
      "checkout.session.completed forged: a guessed secret, no signature, a zero signature, a body changed after signing, a signature 10 minutes old",
      5,
      "400 INVALID_SIGNATURE (stripe's constructEvent on the exact bytes, 5-minute tolerance); nothing recorded or applied",
    );
  });

  it("applies a signed payment once: a replayed event answers duplicate, an older event is ignored", async () => {
    const { shop, completed, customer, subscription } = await paying("standard");
    expect(await period(shop.tenant.id)).toMatchObject({ tier: "standard", status: "active", payment_method: "stripe" });
    expect((await sendEvent(gw.url, completed)).body).toEqual({ received: true, outcome: "duplicate" });
    const failedEarlier = stripeEvent(
      "invoice.payment_failed",
      stripeObjects.invoice(customer, subscription, completed.created),
      completed.created - 60,
    );
    expect((await sendEvent(gw.url, failedEarlier)).body).toEqual({
      received: true,
      outcome: "ignored: older than the last event applied",
    });
    expect(await period(shop.tenant.id)).toMatchObject({ tier: "standard", status: "active", grace_ends_at: null });
    const { rows } = await gw.db.owner.query("select count(*)::int as n from subscriptions where tenant_id = $1", [shop.tenant.id]);
    expect(rows[0].n).toBe(2); // starter, then standard: the replay opened no third period
    record("replay a signed checkout.session.completed (same event id)", 1, "200 duplicate: nothing applied twice");
    record(
      "a signed invoice.payment_failed created before the last applied event (out of order)",
      1,
      "200, ignored: the tenant stays active",
    );
  });

  it("the same signed event sent 10 times at once is applied once", async () => {
    const shop = await signUp(gw.url);
    const checkout = await http(gw.url, "POST", "/api/billing/checkout", { token: shop.access_token, body: { tier: "premium" } });
    const completed = stripeEvent(
      "checkout.session.completed",
      stripeObjects.checkoutCompleted(checkout.body.id, shop.tenant.id, `cus_race_${shop.tenant.id}`, `sub_race_${shop.tenant.id}`),
    );
    const answers = await Promise.all(Array.from({ length: 10 }, () => sendEvent(gw.url, completed)));
    expect(answers.map((a) => a.body.outcome).sort()).toEqual(["applied", ...Array(9).fill("duplicate")]);
    const { rows } = await gw.db.owner.query("select tier, status::text from subscriptions where tenant_id = $1 order by id", [
      shop.tenant.id,
    ]);
    expect(rows).toEqual([
      { tier: "starter", status: "expired" },
      { tier: "premium", status: "active" },
    ]);
    record(
      "the same signed checkout.session.completed sent 10 times at once",
      10,
      "1 applied, 9 answered duplicate: one paid period opened",
    );
  });

  it("an invoice.paid that comes before its checkout.session.completed waits, and is applied with it (next billing date kept)", async () => {
    const shop = await signUp(gw.url);
    const checkout = await http(gw.url, "POST", "/api/billing/checkout", { token: shop.access_token, body: { tier: "standard" } });
    const [customer, subscription] = [`cus_early_${shop.tenant.id}`, `sub_early_${shop.tenant.id}`];
    const created = Math.floor(Date.now() / 1000);
    const paid = stripeEvent("invoice.paid", stripeObjects.invoice(customer, subscription, created + 30 * 86400), created);
    expect((await sendEvent(gw.url, paid)).body.outcome).toMatch(/^waiting/);
    expect(await period(shop.tenant.id)).toMatchObject({ tier: "starter" });
    const unpaid = {
      ...stripeObjects.checkoutCompleted(checkout.body.id, shop.tenant.id, customer, subscription),
      payment_status: "unpaid",
    };
    expect((await sendEvent(gw.url, stripeEvent("checkout.session.completed", unpaid, created))).body.outcome).toBe("applied");
    const { rows } = await gw.db.owner.query(
      "select tier, status::text, next_billing_date from subscriptions where tenant_id = $1 and end_date is null",
      [shop.tenant.id],
    );
    expect(rows[0]).toEqual({ tier: "standard", status: "active", next_billing_date: new Date((created + 30 * 86400) * 1000) });
    record(
      "a signed invoice.paid delivered before its checkout.session.completed (Stripe keeps no order)",
      1,
      "200, waiting: applied when its own Checkout Session completes, never to another tenant",
    );
  });

  it("ignores events about other tenants' objects or sessions it never created", async () => {
    const victim = await paying("standard");
    const attacker = await signUp(gw.url);
    const attackerCheckout = await http(gw.url, "POST", "/api/billing/checkout", {
      token: attacker.access_token,
      body: { tier: "standard" },
    });
    const attempts = [
      // A session of the victim's, claimed for the attacker's tenant.
      stripeObjects.checkoutCompleted(victim.session, attacker.tenant.id, "cus_attacker", "sub_attacker"),
      // A session we never created, naming the attacker's tenant (client_reference_id and metadata).
      {
        ...stripeObjects.checkoutCompleted("cs_never_created", attacker.tenant.id, "cus_x", "sub_x"),
        metadata: { tenant_id: String(attacker.tenant.id) },
      },
      // The attacker's own session, with the victim's customer and subscription ids.
      stripeObjects.checkoutCompleted(attackerCheckout.body.id, attacker.tenant.id, victim.customer, victim.subscription),
      // The attacker's own session, naming the victim's tenant.
      stripeObjects.checkoutCompleted(attackerCheckout.body.id, victim.shop.tenant.id, "cus_y", "sub_y"),
    ].map((object) => stripeEvent("checkout.session.completed", object));
    const invoices = [
      // An invoice of a subscription we do not know, and the victim's subscription with another customer.
      stripeEvent("invoice.payment_failed", stripeObjects.invoice(victim.customer, "sub_unknown", 2_000_000_000)),
      stripeEvent("invoice.payment_failed", stripeObjects.invoice("cus_attacker", victim.subscription, 2_000_000_000)),
      stripeEvent("customer.subscription.deleted", stripeObjects.subscriptionDeleted("cus_attacker", victim.subscription)),
    ];
    for (const event of [...attempts, ...invoices]) {
      const answer = await sendEvent(gw.url, event);
      expect(answer.status).toBe(200);
      expect(answer.body.outcome).toMatch(/^ignored/);
    }
    expect(await period(attacker.tenant.id)).toMatchObject({ tier: "starter", status: "active" });
    expect(await period(victim.shop.tenant.id)).toMatchObject({
      tier: "standard",
      status: "active",
      grace_ends_at: null,
      cancels_at: null,
    });
    record(
      "signed checkout.session.completed crediting another tenant: the victim's session, a session never created (tenant in client_reference_id and metadata), the victim's customer and subscription ids, the attacker's session naming the victim",
      4,
      "200, ignored: the tenant comes only from our own Checkout Session whose client_reference_id matches; ids of another tenant are refused",
    );
    record(
      "signed invoice.payment_failed and customer.subscription.deleted naming the victim's subscription with another customer, or an unknown subscription",
      3,
      "200, ignored: events map to a tenant only through the customer and subscription ids stored from its own Checkout",
    );
  });

  it("a failed payment: past_due, suspended after the grace period (clock in SQL), active again when paid; a cancellation falls back to starter at the period's end", async () => {
    const { shop, customer, subscription, completed } = await paying("premium");
    const periodEnd = completed.created + 30 * 86400;
    await sendEvent(gw.url, stripeEvent("invoice.paid", stripeObjects.invoice(customer, subscription, periodEnd), completed.created + 1));
    await sendEvent(
      gw.url,
      stripeEvent("invoice.payment_failed", stripeObjects.invoice(customer, subscription, periodEnd), completed.created + 2),
    );
    expect(await period(shop.tenant.id)).toMatchObject({ tier: "premium", status: "past_due", grace_ends_at: expect.any(Date) });
    const clock = (days: number) =>
      gw.db.owner.query("select app_private.run_billing_clock(now() + make_interval(days => $1), '3 days')", [days]);
    await clock(6);
    expect((await period(shop.tenant.id)).status).toBe("past_due");
    await clock(8);
    expect((await period(shop.tenant.id)).status).toBe("suspended");
    const write = await graphql(
      gw.url,
      `
        mutation {
          createProduct(input: { product: { sku: "S-1", title: "Suspended", price: "1" } }) {
            product {
              sku
            }
          }
        }
      `,
      {},
      shop.access_token,
    );
    expect(write.body.errors![0].extensions?.code).toBe("SUBSCRIPTION_INACTIVE");
    await sendEvent(gw.url, stripeEvent("invoice.paid", stripeObjects.invoice(customer, subscription, periodEnd), completed.created + 3));
    expect(await period(shop.tenant.id)).toMatchObject({ tier: "premium", status: "active", grace_ends_at: null });

    await sendEvent(
      gw.url,
      stripeEvent("customer.subscription.deleted", stripeObjects.subscriptionDeleted(customer, subscription), completed.created + 4),
    );
    expect(await period(shop.tenant.id)).toMatchObject({ tier: "premium", status: "active", cancels_at: new Date(periodEnd * 1000) });
    await clock(31);
    expect(await period(shop.tenant.id)).toMatchObject({ tier: "starter", status: "active" });
    record(
      "a tenant keeps writing after its payment failed and its grace period (BILLING_GRACE_DAYS) ended",
      1,
      "suspended by the billing clock: writes refused with SUBSCRIPTION_INACTIVE until invoice.paid",
    );
  });

  it("a tenant that downgrades from the tier it paid for to a cheaper paid tier: a failed payment and a cancellation still apply", async () => {
    const { shop, customer, subscription, completed } = await paying("premium");
    const periodEnd = completed.created + 30 * 86400;
    await sendEvent(gw.url, stripeEvent("invoice.paid", stripeObjects.invoice(customer, subscription, periodEnd), completed.created + 1));
    const down = await graphql(gw.url, CHANGE_TIER, { tier: "standard" }, shop.access_token);
    expect(down.body.data.changeSubscriptionTier.result).toEqual({ tier: "standard", status: "active" });
    const failed = stripeEvent("invoice.payment_failed", stripeObjects.invoice(customer, subscription, periodEnd), completed.created + 2);
    expect((await sendEvent(gw.url, failed)).body.outcome).toBe("applied");
    expect(await period(shop.tenant.id)).toMatchObject({ tier: "standard", status: "past_due", grace_ends_at: expect.any(Date) });
    const deleted = stripeEvent(
      "customer.subscription.deleted",
      stripeObjects.subscriptionDeleted(customer, subscription),
      completed.created + 3,
    );
    expect((await sendEvent(gw.url, deleted)).body.outcome).toBe("applied");
    expect(await period(shop.tenant.id)).toMatchObject({ tier: "standard", cancels_at: new Date(periodEnd * 1000) });
    await gw.db.owner.query("select app_private.run_billing_clock(now() + interval '31 days', '3 days')");
    expect(await period(shop.tenant.id)).toMatchObject({ tier: "starter", status: "active" });
    record(
      "pay for premium, downgrade to standard, then let the card fail and cancel in Stripe (outside attack: both events were ignored, standard stayed active for good)",
      3,
      "past_due, then cancelled at the end of the paid period: back to starter",
    );
  });

  it("answers signed events of a shape it does not read with 422 INVALID_INPUT, never 500, and applies nothing", async () => {
    const bodies = [
      '{"id":"evt_x","type":',
      "[]",
      "null",
      "",
      '{"id":"evt_nodata","type":"invoice.paid","created":1}',
      '{"id":"evt_big","type":"invoice.paid","created":1e20,"data":{"object":{}}}',
      JSON.stringify({ id: "evt_str", type: "invoice.paid", created: "yesterday", data: { object: {} } }),
      JSON.stringify(
        stripeEvent("invoice.paid", { customer: "cus_\u0000", period_end: 1e15, lines: { data: [{ period: { end: 1e15 } }] } }),
      ),
      `{"id":"evt_deep","object":"event","type":"invoice.paid","created":1,"data":{"object":{"deep":${"[".repeat(5_000)}${"]".repeat(5_000)}}}}`,
    ];
    const answers = await Promise.all(bodies.map((body) => sendEvent(gw.url, body)));
    for (const answer of answers) expect(answer).toMatchObject({ status: 422, body: { code: "INVALID_INPUT" } });
    record(
      "9 signed webhook bodies of shapes no Stripe event has (truncated JSON, no data, times out of range, NUL, 5,000-deep)",
      9,
      "422 INVALID_INPUT each (500 INTERNAL before), nothing applied",
    );
  });
});

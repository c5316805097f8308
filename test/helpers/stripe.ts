import http from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";
import { http as request, type HttpResult } from "./gateway.ts";

export const WEBHOOK_SECRET = "whsec_test_secret_of_the_endpoint";
export const WEBHOOK_PATH = "/api/billing/stripe/webhook";
/** A price the stand-in says Stripe does not know (the business tier's in its settings). */
const REFUSED_PRICE = "price_unknown_to_stripe";

/** A Checkout Session request the stand-in received: the form fields Stripe's client sent. */
export type CheckoutRequest = Record<string, string>;

/**
 * A local stand-in for the one Stripe API call the server makes (POST /v1/checkout/sessions): no
 * network. It answers a session as Stripe does (id, url, the fields sent back) and keeps the requests.
 */
export async function startStripeStandIn() {
  const requests: CheckoutRequest[] = [];
  let sessions = 0;
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/checkout/sessions") {
        res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "no such route" } }));
        return;
      }
      const fields: CheckoutRequest = Object.fromEntries(new URLSearchParams(body));
      requests.push({ ...fields, authorization: req.headers.authorization ?? "" });
      if (fields["line_items[0][price]"] === REFUSED_PRICE) {
        const error = { type: "invalid_request_error", code: "resource_missing", message: `No such price: '${REFUSED_PRICE}'` };
        res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error }));
        return;
      }
      const id = `cs_test_${++sessions}_${process.pid}`;
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          id,
          object: "checkout.session",
          mode: fields.mode,
          client_reference_id: fields.client_reference_id,
          url: `https://checkout.stripe.test/c/pay/${id}`,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    requests,
    /** The server settings of BILLING=stripe against this stand-in. */
    env: {
      BILLING: "stripe",
      STRIPE_SECRET_KEY: "sk_test_stand_in",
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_PRICE_STANDARD: "price_standard",
      STRIPE_PRICE_PREMIUM: "price_premium",
      STRIPE_PRICE_BUSINESS: REFUSED_PRICE,
      STRIPE_API_BASE: `http://127.0.0.1:${port}`,
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let events = 0;

/** A Stripe event of `type` about `object`, created at `created` (Unix seconds; now by default). */
export function stripeEvent(type: string, object: Record<string, unknown>, created = Math.floor(Date.now() / 1000)) {
  return { id: `evt_test_${++events}_${process.pid}`, object: "event", type, created, livemode: false, data: { object } };
}

/** POST of `event` to the webhook, signed with `secret` (Stripe's test-header helper), or with a header of the caller's. */
export function sendEvent(
  url: string,
  event: object | string,
  { secret = WEBHOOK_SECRET, signature }: { secret?: string; signature?: string } = {},
): Promise<HttpResult> {
  const payload = typeof event === "string" ? event : JSON.stringify(event);
  const header = signature ?? Stripe.webhooks.generateTestHeaderString({ payload, secret });
  return request(url, "POST", WEBHOOK_PATH, { body: payload, headers: { "content-type": "application/json", "stripe-signature": header } });
}

/** The objects of the four events the server acts on, as Stripe sends them (the fields it reads). */
export const stripeObjects = {
  checkoutCompleted: (session: string, tenantId: number | string, customer: string, subscription: string) => ({
    id: session,
    object: "checkout.session",
    mode: "subscription",
    client_reference_id: String(tenantId),
    customer,
    subscription,
    payment_status: "paid",
    metadata: {},
  }),
  invoice: (customer: string, subscription: string, periodEnd: number) => ({
    id: `in_${customer}_${periodEnd}`,
    object: "invoice",
    customer,
    parent: { type: "subscription_details", subscription_details: { subscription } },
    lines: { data: [{ period: { start: periodEnd - 30 * 86400, end: periodEnd } }] },
    period_end: periodEnd - 30 * 86400,
  }),
  subscriptionDeleted: (customer: string, subscription: string) => ({
    id: subscription,
    object: "subscription",
    customer,
    status: "canceled",
  }),
};

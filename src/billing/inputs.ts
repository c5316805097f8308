import { z } from "zod";

/** What an admin asks a payment page for (REST `POST /api/billing/checkout`, GraphQL `createCheckoutSession`). */
export const CheckoutInput = z
  .object({
    tier: z
      .string({ error: "tier is required" })
      .regex(/^[a-z][a-z0-9_]{0,49}$/, "tier must be the name of a paid tier")
      .meta({ description: "The paid tier to pay for: standard, premium, business or enterprise", example: "standard" }),
  })
  .meta({ id: "CheckoutInput" });

/** The Stripe Checkout page made for the admin. */
export const CheckoutSession = z
  .strictObject({
    id: z.string().meta({ description: "Stripe's id of the Checkout Session (cs_…)" }),
    url: z.string().meta({ description: "The Stripe Checkout page: send the admin there to pay" }),
  })
  .meta({ id: "CheckoutSession" });

/** Where the tenant's subscription stands (its current period). */
export const SubscriptionState = z
  .strictObject({
    tier: z.string(),
    status: z
      .enum(["trialing", "active", "past_due", "suspended", "cancelled", "expired"])
      .meta({ description: "See the README's Billing section: what each state allows" }),
    trial_ends_at: z.string().nullable().meta({ description: "When the trial ends (trialing): without a payment, back to starter" }),
    next_billing_date: z.string().nullable().meta({ description: "When the next payment is due, as the billing side said" }),
    grace_ends_at: z.string().nullable().meta({ description: "After a failed payment: when the tenant is suspended unless it pays" }),
    cancels_at: z.string().nullable().meta({ description: "The subscription was cancelled: back to starter then" }),
  })
  .meta({ id: "SubscriptionState" });

export type SubscriptionState = z.infer<typeof SubscriptionState>;

/** What the webhook answers a signed event. */
export const WebhookReceipt = z
  .strictObject({
    received: z.literal(true),
    outcome: z.string().meta({ description: "applied, duplicate (already received: nothing applied again), or why it was ignored" }),
  })
  .meta({ id: "WebhookReceipt" });

/** A Stripe event as the webhook reads it (Stripe sends more fields; the signature covers the exact bytes). */
export const StripeEvent = z
  .looseObject({
    id: z.string().meta({ example: "evt_1" }),
    type: z.string().meta({ example: "invoice.paid" }),
    created: z.int().meta({ description: "Unix time: an event older than the last applied for its tenant is ignored" }),
    data: z.looseObject({ object: z.looseObject({}) }),
  })
  .meta({ id: "StripeEvent" });

/**
 * The parts of a signed Stripe event the server reads (its id, type, creation time, object). A
 * signed event of another shape is refused (422 INVALID_INPUT), never half applied: only the
 * holder of STRIPE_WEBHOOK_SECRET can send one, but such a body answered 500 before.
 */
export const StripeEventEnvelope = z.object({
  id: z.string().min(1).max(255),
  type: z.string().min(1).max(255),
  created: z.number().int().min(0).max(253_402_300_799), // up to the year 9999, as PostgreSQL's timestamps
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

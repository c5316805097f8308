import type pg from "pg";
import type { Logger } from "pino";
import Stripe from "stripe";
import type { z } from "zod";
import { claimSettings } from "../auth/claim-settings.ts";
import { parseInput } from "../auth/inputs.ts";
import { PG_ROLE_OF } from "../auth/roles.ts";
import type { SessionClaims } from "../auth/tokens.ts";
import { inTransaction, type SqlHelpers } from "../auth/transactions.ts";
import { billingSqlSettings, type BillingConfig, type StripeConfig } from "../config/billing.ts";
import { ClientError, forbidden, invalidInput } from "../errors.ts";
import { codeOfPgError } from "../db/error-codes.ts";
import { CheckoutInput, StripeEventEnvelope, type SubscriptionState } from "./inputs.ts";

type StripeEvent = z.infer<typeof StripeEventEnvelope>;

/** The role webhook transactions run as: it may only call app_private.apply_billing_event. */
const BILLING_PG_ROLE = "stoflow_billing";

const billingDisabled = () =>
  new ClientError("BILLING_DISABLED", 409, "This server takes no payments (BILLING=none): an operator sets paid tiers");
/** Stripe refused or did not answer the API call: the admin may retry; what Stripe said goes to the log, not to the client. */
const stripeRefusal =
  (logger: Logger | undefined) =>
  (error: unknown): never => {
    if (!(error instanceof Stripe.errors.StripeError)) throw error;
    logger?.warn({ err: error, stripe: { type: error.type, code: error.code, status: error.statusCode } }, "Stripe refused a call");
    throw new ClientError("BILLING_UNAVAILABLE", 502, "The payment provider did not take the request; retry later");
  };
/** Stripe answered something no Checkout Session can be made of: answered as its other refusals are (502), the reason kept as the cause. */
const providerAnswered = (what: string) => {
  const error = new ClientError("BILLING_UNAVAILABLE", 502, "The payment provider did not take the request; retry later");
  error.cause = `Stripe answered ${what}`;
  return error;
};
const badSignature = () => new ClientError("INVALID_SIGNATURE", 400, "The Stripe-Signature header does not sign this body");
const notAnEvent = () => invalidInput("The body is not a Stripe event (id, type, created, data.object)");

/**
 * The event `body` holds, once Stripe-Signature is checked on its exact bytes and its envelope is
 * one we read, with its object as JSON text for SQL.
 */
function signedEvent(body: Buffer, signature: string | undefined, secret: string): StripeEvent & { objectJson: string } {
  try {
    const parsed = StripeEventEnvelope.safeParse(Stripe.webhooks.constructEvent(body, signature ?? "", secret));
    if (!parsed.success) throw notAnEvent();
    return { ...parsed.data, objectJson: JSON.stringify(parsed.data.data.object) };
  } catch (error) {
    if (error instanceof Stripe.errors.StripeSignatureVerificationError) throw badSignature();
    if (error instanceof SyntaxError || error instanceof RangeError) throw notAnEvent(); // signed, but no JSON, or nested past the stack
    throw error;
  }
}

/** A signed event whose content PostgreSQL refuses (a NUL, a time out of range): the sender's mistake, 422 INVALID_INPUT. */
const refusedContent = (error: unknown): never => {
  if (codeOfPgError(error) === "INVALID_INPUT") throw invalidInput("The event's content cannot be applied");
  throw error;
};

/** The Stripe client of these settings (STRIPE_API_BASE points it at a local stand-in in tests). */
export function stripeClient({ secretKey, apiBase }: StripeConfig): Stripe {
  return new Stripe(secretKey, { maxNetworkRetries: 1, timeout: 10_000, telemetry: false, ...apiBase });
}

/**
 * The billing boundary's flows, shared by the REST routes (src/http/billing-routes.ts) and GraphQL
 * (src/graphql/billing-plugin.ts): a Checkout page for the admin, the subscription's state, and
 * the signed events of Stripe's webhook, applied in SQL (app_private.apply_billing_event, the only
 * writer of paid status besides the operator's tenants:set-tier).
 */
export function billingFlows(pool: pg.Pool, billing: BillingConfig, appUrl: () => string, logger?: Logger) {
  const stripe = billing.stripe && stripeClient(billing.stripe);
  /** SQL's grants keep these to admins too (record_checkout_session, current_subscription_period). */
  const asAdmin = <T>(session: SessionClaims, work: (query: SqlHelpers) => Promise<T>) => {
    if (session.role !== "admin") throw forbidden("Only a tenant admin manages the subscription");
    return inTransaction(pool, { role: PG_ROLE_OF[session.role], ...claimSettings(session) }, work);
  };

  return {
    /** What SQL reads in a session's transactions: whether upgrades are immediate, the trial's length. */
    sqlSettings: billingSqlSettings(billing),

    /** A Stripe Checkout Session paying `tier` for the admin's tenant: its id travels back as client_reference_id. */
    async checkout(session: SessionClaims, input: Record<string, unknown>): Promise<{ id: string; url: string }> {
      if (session.role !== "admin") throw forbidden("Only a tenant admin manages the subscription");
      if (!stripe || !billing.stripe) throw billingDisabled();
      const { tier } = parseInput(CheckoutInput, input);
      const price = billing.stripe.prices[tier];
      if (!price) throw invalidInput(`The ${tier} tier cannot be bought here (no STRIPE_PRICE_${tier.toUpperCase()})`);
      const created = await stripe.checkout.sessions
        .create({
          mode: "subscription",
          client_reference_id: String(session.tenantId),
          line_items: [{ price, quantity: 1 }],
          success_url: `${appUrl()}/billing?checkout=success&session_id={CHECKOUT_SESSION_ID}`,
          cancel_url: `${appUrl()}/billing?checkout=cancelled`,
        })
        .catch(stripeRefusal(logger));
      if (!created.id || !created.url) throw providerAnswered("a Checkout Session without an id or a URL");
      await asAdmin(session, (query) => query.run("select app_private.record_checkout_session($1, $2)", [created.id, tier])).catch(
        (error: unknown) => {
          if (codeOfPgError(error) === "DUPLICATE") throw providerAnswered(`a Checkout Session id it gave before (${created.id})`);
          throw error;
        },
      );
      return { id: created.id, url: created.url };
    },

    /** The tenant's current period, for its admin. */
    async subscription(session: SessionClaims): Promise<SubscriptionState> {
      const state = await asAdmin(session, (query) =>
        query.row<SubscriptionState>(
          `select tier, status::text, trial_ends_at, next_billing_date, grace_ends_at, cancels_at
             from public.current_subscription_period()`,
        ),
      );
      if (!state) throw new ClientError("NOT_FOUND", 404, "The tenant has no subscription");
      return state;
    },

    /** A webhook request: its exact bytes checked against Stripe-Signature, then applied once in SQL. */
    async receive(body: Buffer, signature: string | undefined): Promise<{ received: true; outcome: string }> {
      if (!billing.stripe) throw billingDisabled();
      const event = signedEvent(body, signature, billing.stripe.webhookSecret);
      const outcome = await inTransaction(pool, { role: BILLING_PG_ROLE }, (query) =>
        query.value<string>("select app_private.apply_billing_event($1, $2, to_timestamp($3), $4::jsonb, make_interval(days => $5))", [
          event.id,
          event.type,
          event.created,
          event.objectJson,
          billing.graceDays,
        ]),
      ).catch(refusedContent);
      return { received: true, outcome };
    },
  };
}

export type BillingFlows = ReturnType<typeof billingFlows>;

import { context, sideEffect, type FieldArgs, type Step } from "postgraphile/grafast";
import { extendSchema, gql } from "postgraphile/utils";
import type { BillingFlows } from "../billing/flows.ts";
import type { SessionClaims } from "../auth/tokens.ts";
import { notAuthenticated } from "../errors.ts";

/** The mutations of this plugin: they run over the billing flows (Stripe, then SQL), outside the request's transaction. */
export const BILLING_MUTATIONS = ["createCheckoutSession"] as const;

const typeDefs = gql`
  "A paid tier the signed-in admin wants to pay for."
  input CreateCheckoutSessionInput {
    "standard, premium, business or enterprise (the tiers this server has a Stripe price for)."
    tier: String!
  }
  "A Stripe Checkout page: send the admin to url. The tier becomes active when Stripe confirms the payment (its signed webhook), never before."
  type CheckoutSessionPayload {
    "Stripe's id of the Checkout Session (cs_…)."
    sessionId: String!
    "The Stripe Checkout page."
    url: String!
  }
  extend type Mutation {
    "A Stripe Checkout page paying a tier for the signed-in admin's tenant (admins only; BILLING_DISABLED with BILLING=none). The tenant's subscription changes only when Stripe's signed event confirms the payment."
    createCheckoutSession(input: CreateCheckoutSessionInput!): CheckoutSessionPayload
  }
`;

/** createCheckoutSession over the billing flows (the same code as REST's POST /api/billing/checkout). */
export function billingPlugin(billing: BillingFlows) {
  return extendSchema(() => ({
    typeDefs,
    plans: {
      Mutation: {
        createCheckoutSession(_: unknown, args: FieldArgs) {
          const input = args.getRaw("input") as Step<Record<string, unknown>>;
          return sideEffect(
            [context().get("session"), input],
            async ([session, fields]: readonly [SessionClaims | undefined, Record<string, unknown>]) => {
              if (!session) throw notAuthenticated();
              const { id, url } = await billing.checkout(session, fields);
              return { sessionId: id, url };
            },
          );
        },
      },
    },
  }));
}

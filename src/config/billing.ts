import { z } from "zod";
import { isProduction } from "./env.ts";
import { integer, optional, text } from "./fields.ts";

/** The paid tiers a Stripe price can be set for (STRIPE_PRICE_<TIER>). */
export const PRICED_TIERS = ["standard", "premium", "business", "enterprise"] as const;

/** Where the Stripe client sends its API calls (STRIPE_API_BASE: a local stand-in in tests). */
export interface StripeApiBase {
  protocol: "http" | "https";
  host: string;
  port: number;
}

export interface StripeConfig {
  secretKey: string;
  webhookSecret: string;
  /** Stripe's price id (price_…) of each paid tier that can be bought. */
  prices: Partial<Record<string, string>>;
  apiBase: StripeApiBase | undefined;
}

/** The billing boundary (README "Billing"): who may make a paid tier active, trials, grace. */
export interface BillingConfig {
  /** BILLING: `stripe` (Checkout and signed webhooks) or `none` (no payment step). */
  provider: "none" | "stripe";
  /** BILLING=none in development: a paid tier is active at once, as before billing existed. Never in production. */
  immediateUpgrades: boolean;
  trialDays: number;
  /** Days a tenant keeps its tier after a failed payment, then it is suspended. */
  graceDays: number;
  /** Days before a trial's end its admins are mailed. */
  reminderDays: number;
  stripe: StripeConfig | undefined;
}

/** TRIAL_REMINDER_DAYS: read by the job worker too (its crontab runs the billing clock). */
export const readReminderDays = (env: NodeJS.ProcessEnv) => integer(env, "TRIAL_REMINDER_DAYS", 3, 0, 365);

const PROVIDER = z.enum(["none", "stripe"]);

export function readBillingConfig(env: NodeJS.ProcessEnv): BillingConfig {
  const raw = text(env, "BILLING", "none");
  const provider = PROVIDER.safeParse(raw);
  if (!provider.success) throw new Error(`BILLING must be none or stripe (got "${raw}")`);
  const stripe = {
    secretKey: optional(env, "STRIPE_SECRET_KEY"),
    webhookSecret: optional(env, "STRIPE_WEBHOOK_SECRET"),
    prices: Object.fromEntries(
      PRICED_TIERS.flatMap((tier) => {
        const price = optional(env, `STRIPE_PRICE_${tier.toUpperCase()}`);
        return price ? [[tier, price]] : [];
      }),
    ),
    apiBase: apiBase(optional(env, "STRIPE_API_BASE")),
  };
  return {
    provider: provider.data,
    immediateUpgrades: provider.data === "none" && !isProduction(env),
    trialDays: integer(env, "TRIAL_DAYS", 14, 0, 365),
    graceDays: integer(env, "BILLING_GRACE_DAYS", 7, 0, 90),
    reminderDays: readReminderDays(env),
    stripe: provider.data === "stripe" ? required(stripe) : undefined,
  };
}

/** BILLING=stripe without its secrets or any price: one line naming the missing setting. */
function required(stripe: Omit<StripeConfig, "secretKey" | "webhookSecret"> & { secretKey?: string; webhookSecret?: string }) {
  const { secretKey, webhookSecret } = stripe;
  if (!secretKey) throw new Error("BILLING=stripe needs STRIPE_SECRET_KEY (the secret API key, sk_…)");
  if (!webhookSecret) throw new Error("BILLING=stripe needs STRIPE_WEBHOOK_SECRET (the signing secret of the webhook endpoint, whsec_…)");
  if (Object.keys(stripe.prices).length === 0)
    throw new Error(
      `BILLING=stripe needs the price of a tier at least (${PRICED_TIERS.map((t) => `STRIPE_PRICE_${t.toUpperCase()}`).join(", ")})`,
    );
  return { ...stripe, secretKey, webhookSecret };
}

function apiBase(raw: string | undefined): StripeApiBase | undefined {
  if (raw === undefined) return undefined;
  const url = URL.parse(raw);
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:"))
    throw new Error(`STRIPE_API_BASE must be an http(s) URL (got "${raw}")`);
  const protocol = url.protocol === "http:" ? "http" : "https";
  return { protocol, host: url.hostname, port: Number(url.port || (protocol === "http" ? 80 : 443)) };
}

/**
 * What SQL is told in every transaction that may change a tier (registration, changeSubscriptionTier):
 * whether upgrades are immediate, and the trial's length (read by app_private.upgrades_are_immediate
 * and app_private.trial_days).
 */
export function billingSqlSettings(billing: BillingConfig): Record<string, string> {
  return { "stoflow.billing": billing.immediateUpgrades ? "immediate" : "trial", "stoflow.trial_days": String(billing.trialDays) };
}

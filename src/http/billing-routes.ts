import express, { type Router } from "express";
import { body } from "./auth-routes.ts";
import type { BillingFlows } from "../billing/flows.ts";
import { requireSession } from "./bearer.ts";
import { rememberMountPath } from "./metrics.ts";

/** Where the routes below are mounted. */
export const BILLING_PATH = "/api/billing";

/** Stripe's webhook, under BILLING_PATH: its body is read raw, since the signature covers its exact bytes. */
export const WEBHOOK_ROUTE = "/stripe/webhook";

/** The one billing route with a JSON body. */
export const CHECKOUT_ROUTE = "/checkout";

/** Largest webhook body (413 beyond): Stripe's events (an invoice with its lines) are larger than the JSON routes' bodies. */
export const WEBHOOK_BODY_BYTES = 256 * 1024;

/** The billing routes: a Checkout page and the subscription's state for admins, Stripe's signed events. */
export function billingRoutes(billing: BillingFlows): Router {
  const router = express.Router();
  router.use(rememberMountPath(BILLING_PATH));
  router.post(CHECKOUT_ROUTE, async (req, res) => {
    res.status(201).json(await billing.checkout(requireSession(req), body(req)));
  });
  router.get("/subscription", async (req, res) => {
    res.json(await billing.subscription(requireSession(req)));
  });
  router.post(WEBHOOK_ROUTE, async (req, res) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    res.json(await billing.receive(body, req.get("stripe-signature")));
  });
  return router;
}

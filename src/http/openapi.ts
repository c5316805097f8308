import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig } from "@asteasolutions/zod-to-openapi";
import type { z } from "zod";
import {
  AcceptInvitationInput,
  ChangePasswordInput,
  ConfirmPasswordInput,
  EmailChangeInput,
  EmailTokenInput,
  InvitationIdInput,
  InvitationInput,
  LoginInput,
  MailRequestInput,
  RefreshInput,
  RegisterInput,
  ResetPasswordInput,
} from "../auth/inputs.ts";
import { CheckoutInput, StripeEvent } from "../billing/inputs.ts";
import { WEBHOOK_BODY_BYTES } from "./billing-routes.ts";
import { HASHING_ROUTES } from "../auth/hashing-operations.ts";
import {
  answer,
  LINK_TOKEN,
  REFUSED_BEFORE_ANY_ROUTE,
  refusalResponses,
  refusalsOf,
  type Placement,
  type Refusal,
} from "./openapi-answers.ts";

/**
 * The OpenAPI 3.1 document of the REST routes (served at /openapi.json, browsed at /docs). Request
 * bodies are the schemas the routes validate with (src/auth/inputs.ts); each operation names
 * itself (`operationId`, the name of the same flow in GraphQL where there is one), says who may
 * call it, and lists the answers it can give, each refusal with its codes. test/api/openapi.test.ts
 * checks every route's real answers against it, and that every route of the app has an operation
 * here; test/api/openapi-lint.test.ts runs `redocly lint` (recommended rules) on it.
 */

type Tag = "Account" | "Account e-mails" | "Billing" | "Service";
const TAGS: Record<Tag, string> = {
  Account: "Sign-up, sign-in and sessions",
  "Account e-mails": "The flows of e-mailed links: verification, password reset, invitations, change of address",
  Billing: "Paying for a tier (Stripe Checkout), the subscription's state, and Stripe's signed events",
  Service: "Probes and the root",
};

/** One REST operation, as documented. */
export interface Operation extends Omit<Placement, "body" | "hashes"> {
  operationId: string;
  method: "get" | "post" | "delete";
  path: string;
  tag: Tag;
  summary: string;
  /** The JSON body, as the route validates it. */
  body?: z.ZodType;
  /** A body read as bytes (its signature covers them), documented by this schema: none of the JSON body's refusals. */
  rawBody?: z.ZodType;
  /** The path's parameters, as the route validates them. */
  params?: z.ZodObject;
  /** The answers when it works. */
  success: Record<number, ResponseConfig>;
  /** Its own refusals; those of every route on its path (lines, token check, body) are added. */
  refusals: Refusal[];
}

const TOO_MANY_MESSAGES: Refusal = [
  429,
  "TOO_MANY_ATTEMPTS",
  "too many messages asked for this address or from this client address (`MAIL_REQUESTS_PER_EMAIL`, `MAIL_REQUESTS_PER_ADDRESS`)",
];
const LOST_RACE: Refusal = [
  409,
  "CONFLICT",
  "the request lost a race with another change (a deadlock, a lock wait); nothing was kept, retry",
];
const MAIL_QUEUED = answer.mailRequested("Queued, if an account fits: the same answer either way");
const ADMINS_ONLY: Refusal = [403, "FORBIDDEN", "only a tenant admin manages invitations"];
const TOO_MANY_INVITATIONS: Refusal = [
  429,
  "TOO_MANY_ATTEMPTS",
  "too many invitations from this admin or this tenant (`INVITATIONS_PER_INVITER_PER_HOUR`, `INVITATIONS_PER_TENANT_PER_HOUR`)",
];
const NO_SUCH_INVITATION: Refusal = [404, "NOT_FOUND", "no such pending invitation in this tenant"];
const BAD_INVITATION_ID: Refusal = [422, "INVALID_INPUT", "the id is not a positive whole number"];
/** The refusals of the routes that check the current password again (change-password, confirm-password). */
const PASSWORD_CHECKED_AGAIN: Refusal[] = [
  [403, "INVALID_CREDENTIALS", "the current password is wrong"],
  [409, "CONFLICT", "the password or this session changed meanwhile: sign in again"],
  [
    429,
    "TOO_MANY_ATTEMPTS",
    "too many wrong current passwords, on change-password, change-email and confirm-password together (`CHANGE_PASSWORD_MAX_FAILURES`)",
  ],
];
const BILLING_DISABLED = "this server takes no payments (`BILLING=none`): an operator sets paid tiers (`tenants:set-tier`)";
const SUDO_FOR_ADMINS: Refusal = [
  403,
  "REAUTHENTICATION_REQUIRED",
  "an invitation with the admin role, and this session has not confirmed the password within `REAUTHENTICATION_TTL` (`confirm-password`)",
];

export const OPERATIONS: Operation[] = [
  {
    operationId: "register",
    method: "post",
    path: "/api/auth/register",
    tag: "Account",
    summary: "Create a tenant and its admin",
    body: RegisterInput,
    success: { 201: answer.signedIn("Signed in as the new tenant's admin; a verification message is on its way") },
    refusals: [
      [400, "EMAIL_TAKEN", "an account has this address"],
      [422, "INVALID_INPUT", "an unknown `subscription_tier`"],
      [
        429,
        "TOO_MANY_ATTEMPTS",
        "too many registrations from this client address or of this address (`REGISTRATIONS_PER_ADDRESS_PER_HOUR`, `REGISTRATIONS_PER_EMAIL_PER_HOUR`)",
      ],
      LOST_RACE,
    ],
  },
  {
    operationId: "login",
    method: "post",
    path: "/api/auth/login",
    tag: "Account",
    summary: "Sign in",
    body: LoginInput,
    success: { 200: answer.signedIn("Signed in") },
    refusals: [
      [401, "INVALID_CREDENTIALS", "no active account has this address and password"],
      [403, "EMAIL_NOT_VERIFIED", "the right password, but the address is not verified yet (with `LOGIN_REQUIRES_VERIFIED_EMAIL=true`)"],
      [
        429,
        "TOO_MANY_ATTEMPTS",
        "too many failed sign-ins of this address, or sign-ins from this client address (`LOGIN_MAX_FAILURES_PER_EMAIL`, `LOGIN_MAX_ATTEMPTS_PER_ADDRESS`)",
      ],
      LOST_RACE,
    ],
  },
  {
    operationId: "refreshToken",
    method: "post",
    path: "/api/auth/refresh",
    tag: "Account",
    summary: "Exchange a refresh token for a new pair",
    body: RefreshInput,
    success: { 200: answer.signedIn("A new pair; the old refresh token is spent") },
    refusals: [[401, "INVALID_REFRESH_TOKEN", "unknown, expired, or already used (a reuse ends the whole session)"], LOST_RACE],
  },
  {
    operationId: "currentSession",
    method: "get",
    path: "/api/auth/session",
    tag: "Account",
    summary: "The signed-in user and tenant",
    signedIn: true,
    success: { 200: answer.session("The session") },
    refusals: [],
  },
  {
    operationId: "logout",
    method: "post",
    path: "/api/auth/logout",
    tag: "Account",
    summary: "End the session (its access and refresh tokens)",
    signedIn: true,
    success: { 204: answer.empty("Ended") },
    refusals: [LOST_RACE],
  },
  {
    operationId: "changePassword",
    method: "post",
    path: "/api/auth/change-password",
    tag: "Account",
    summary: "Change the password; ends the other sessions",
    signedIn: true,
    body: ChangePasswordInput,
    success: { 204: answer.empty("Changed") },
    refusals: PASSWORD_CHECKED_AGAIN,
  },
  {
    operationId: "confirmPassword",
    method: "post",
    path: "/api/auth/confirm-password",
    tag: "Account",
    summary:
      "Confirm the password again (sudo mode): for `REAUTHENTICATION_TTL` this session may grant or take the admin role, invite an admin and delete the tenant",
    signedIn: true,
    body: ConfirmPasswordInput,
    success: { 200: answer.reauthenticated("Confirmed: the session may make sensitive changes until `reauthenticated_until`") },
    refusals: PASSWORD_CHECKED_AGAIN,
  },
  {
    operationId: "verifyEmail",
    method: "post",
    path: "/api/auth/verify-email",
    tag: "Account e-mails",
    summary: "Verify the address with the token of a verification message",
    body: EmailTokenInput,
    success: { 204: answer.empty("Verified") },
    refusals: [...LINK_TOKEN, LOST_RACE],
  },
  {
    operationId: "resendVerificationEmail",
    method: "post",
    path: "/api/auth/resend-verification",
    tag: "Account e-mails",
    summary: "Send the verification message again (if the address has an unverified account)",
    body: MailRequestInput,
    success: { 202: MAIL_QUEUED },
    refusals: [TOO_MANY_MESSAGES],
  },
  {
    operationId: "forgotPassword",
    method: "post",
    path: "/api/auth/forgot-password",
    tag: "Account e-mails",
    summary: "Mail a password-reset link (if the address has an account)",
    body: MailRequestInput,
    success: { 202: MAIL_QUEUED },
    refusals: [TOO_MANY_MESSAGES],
  },
  {
    operationId: "resetPassword",
    method: "post",
    path: "/api/auth/reset-password",
    tag: "Account e-mails",
    summary: "Set a new password with the token of a reset message; ends every session",
    body: ResetPasswordInput,
    success: { 204: answer.empty("Changed; sign in with the new password") },
    refusals: [...LINK_TOKEN, LOST_RACE],
  },
  {
    operationId: "invitations",
    method: "get",
    path: "/api/auth/invitations",
    tag: "Account e-mails",
    summary: "The tenant's pending invitations (admins only)",
    signedIn: true,
    success: { 200: answer.invitations("Pending invitations, oldest first") },
    refusals: [ADMINS_ONLY],
  },
  {
    operationId: "inviteTeamMember",
    method: "post",
    path: "/api/auth/invitations",
    tag: "Account e-mails",
    summary: "Invite an address into the admin's tenant by role (admins only; throttled per admin and per tenant)",
    signedIn: true,
    body: InvitationInput,
    success: {
      201: answer.invited(
        "Invited: the invitation is queued; the same answer whether or not the address has an account (which is mailed nothing)",
      ),
    },
    refusals: [ADMINS_ONLY, SUDO_FOR_ADMINS, TOO_MANY_INVITATIONS, LOST_RACE],
  },
  {
    operationId: "resendInvitation",
    method: "post",
    path: "/api/auth/invitations/{id}/resend",
    tag: "Account e-mails",
    summary: "Send a pending invitation again, valid `INVITATION_TTL` from now (admins only; throttled like an invitation)",
    signedIn: true,
    params: InvitationIdInput,
    success: { 202: answer.invited("Queued again") },
    refusals: [ADMINS_ONLY, SUDO_FOR_ADMINS, NO_SUCH_INVITATION, BAD_INVITATION_ID, TOO_MANY_INVITATIONS, LOST_RACE],
  },
  {
    operationId: "revokeInvitation",
    method: "delete",
    path: "/api/auth/invitations/{id}",
    tag: "Account e-mails",
    summary: "Revoke a pending invitation: its link stops working (admins only)",
    signedIn: true,
    params: InvitationIdInput,
    success: { 204: answer.empty("Revoked") },
    refusals: [ADMINS_ONLY, NO_SUCH_INVITATION, BAD_INVITATION_ID, LOST_RACE],
  },
  {
    operationId: "acceptInvitation",
    method: "post",
    path: "/api/auth/accept-invitation",
    tag: "Account e-mails",
    summary: "Choose a password with the token of an invitation, and sign in",
    body: AcceptInvitationInput,
    success: { 200: answer.signedIn("Signed in as the invited user") },
    refusals: [...LINK_TOKEN, LOST_RACE],
  },
  {
    operationId: "requestEmailChange",
    method: "post",
    path: "/api/auth/change-email",
    tag: "Account e-mails",
    summary: "Ask, with the current password, to move to a new address: a confirmation link goes to the new and to the current address",
    signedIn: true,
    body: EmailChangeInput,
    success: { 202: answer.mailRequested("Queued (nothing goes to a new address another account has): the same answer either way") },
    refusals: [
      [403, "INVALID_CREDENTIALS", "the current password is wrong"],
      [
        429,
        "TOO_MANY_ATTEMPTS",
        "too many wrong current passwords (`CHANGE_PASSWORD_MAX_FAILURES`), or messages asked for (`MAIL_REQUESTS_PER_EMAIL`, `MAIL_REQUESTS_PER_ADDRESS`)",
      ],
      LOST_RACE,
    ],
  },
  {
    operationId: "confirmEmailChange",
    method: "post",
    path: "/api/auth/confirm-email-change",
    tag: "Account e-mails",
    summary:
      "Confirm one side of a change of address with the token of its message; the second confirmation changes it and ends every session",
    body: EmailTokenInput,
    success: { 200: answer.emailChangeConfirmed("Confirmed") },
    refusals: [...LINK_TOKEN, [400, "EMAIL_TAKEN", "another account took the address meanwhile"], LOST_RACE],
  },
  {
    operationId: "cancelEmailChange",
    method: "post",
    path: "/api/auth/cancel-email-change",
    tag: "Account e-mails",
    summary: "This was not me: with the token of the message to the old address, cancel the change of address and end every session",
    body: EmailTokenInput,
    success: { 204: answer.empty("Cancelled; every session ended") },
    refusals: [...LINK_TOKEN, LOST_RACE],
  },
  {
    operationId: "createCheckoutSession",
    method: "post",
    path: "/api/billing/checkout",
    tag: "Billing",
    summary:
      "A Stripe Checkout page paying a tier for the admin's tenant; the tier becomes active only when Stripe's signed event confirms it",
    signedIn: true,
    body: CheckoutInput,
    success: { 201: answer.checkout("Created: send the admin to `url`") },
    refusals: [
      [403, "FORBIDDEN", "only a tenant admin manages the subscription"],
      [409, "BILLING_DISABLED", BILLING_DISABLED],
      [422, "INVALID_INPUT", "a tier this server has no Stripe price for (`STRIPE_PRICE_<TIER>`)"],
      [502, "BILLING_UNAVAILABLE", "Stripe refused the call or did not answer (its reason is in the server's log); retry later"],
      LOST_RACE,
    ],
  },
  {
    operationId: "currentSubscriptionPeriod",
    method: "get",
    path: "/api/billing/subscription",
    tag: "Billing",
    summary: "Where the tenant's subscription stands: tier, status, trial end, next billing date (admins only)",
    signedIn: true,
    success: { 200: answer.subscription("The current period") },
    refusals: [
      [403, "FORBIDDEN", "only a tenant admin manages the subscription"],
      [404, "NOT_FOUND", "the tenant has no subscription (deleted meanwhile)"],
    ],
  },
  {
    operationId: "stripeWebhook",
    method: "post",
    path: "/api/billing/stripe/webhook",
    tag: "Billing",
    summary:
      "Stripe's events (checkout.session.completed, invoice.paid, invoice.payment_failed, customer.subscription.deleted), signed with `STRIPE_WEBHOOK_SECRET`; each applied once",
    rawBody: StripeEvent,
    success: { 200: answer.webhookReceipt("Received: applied, a duplicate (nothing applied again), or ignored (not ours, out of order)") },
    refusals: [
      [
        400,
        "INVALID_SIGNATURE",
        "the `Stripe-Signature` header does not sign this body with `STRIPE_WEBHOOK_SECRET`, or is older than 5 minutes",
      ],
      [409, "BILLING_DISABLED", BILLING_DISABLED],
      [413, "BAD_REQUEST", `the body is larger than ${WEBHOOK_BODY_BYTES / 1024} kB`],
      LOST_RACE,
    ],
  },
  {
    operationId: "health",
    method: "get",
    path: "/health",
    tag: "Service",
    summary: "Liveness: does the database answer within two seconds",
    probe: true,
    refusals: [],
    success: { 200: answer.health("Up"), 503: answer.health("The database does not answer; `Retry-After`") },
  },
  {
    operationId: "readiness",
    method: "get",
    path: "/ready",
    tag: "Service",
    summary: "Readiness: database up, migrations applied; lagging tenants listed",
    probe: true,
    refusals: [],
    success: { 200: answer.readiness("Ready"), 503: answer.readiness("Not ready, with the reason; `Retry-After`") },
  },
  {
    operationId: "root",
    method: "get",
    path: "/",
    tag: "Service",
    summary: "Name, version and links",
    success: { 200: answer.root("Where to go") },
    refusals: [],
  },
];

const BEARER = "bearer";

function registerOperation(
  registry: OpenAPIRegistry,
  { operationId, method, path, tag, summary, body, rawBody, params, success, refusals, ...placement }: Operation,
) {
  const schema = body ?? rawBody;
  const all = refusalsOf(refusals, { ...placement, body: body !== undefined, hashes: HASHING_ROUTES.has(path) });
  registry.registerPath({
    operationId,
    method,
    path,
    summary,
    tags: [tag],
    security: placement.signedIn ? [{ [BEARER]: [] }] : [],
    request: {
      ...(params ? { params } : {}),
      ...(schema ? { body: { required: true, content: { "application/json": { schema } } } } : {}),
    },
    responses: { ...success, ...refusalResponses(all), ...(placement.probe ? { "4XX": REFUSED_BEFORE_ANY_ROUTE } : {}) },
  });
}

/** The document, generated once per server. */
export function openApiDocument(version: string, { explorer }: { explorer: boolean }) {
  const registry = new OpenAPIRegistry();
  registry.registerComponent("securitySchemes", BEARER, {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "The `access_token` of register, login or refresh",
  });
  for (const operation of OPERATIONS) registerOperation(registry, operation);
  const graphql = explorer ? "GraphQL at `/graphql` (explorer at `/graphiql`)" : "GraphQL at `/graphql`";
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: {
      title: "Stoflow REST API",
      version,
      description: `Sign-up, sign-in and sessions, the flows of e-mailed links, and the probes. The data itself is served by ${graphql}.`,
      license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
    },
    servers: [{ url: "/", description: "This server" }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
  });
}

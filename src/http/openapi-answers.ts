import type { ResponseConfig } from "@asteasolutions/zod-to-openapi";
import { z } from "zod";
import { APP_ROLES } from "../auth/roles.ts";
import { REST_BODY_BYTES } from "./auth-routes.ts";
import { CheckoutSession, SubscriptionState, WebhookReceipt } from "../billing/inputs.ts";

/**
 * What the REST routes answer, for their OpenAPI document (src/http/openapi.ts): the bodies of
 * their successes, and their refusals, each listed with the codes it can carry. The refusals every
 * route on a path shares (the lines, the token check, the JSON body) are added by `refusalsOf`,
 * so that a route documents exactly the answers it can give.
 */

const SessionView = z
  .strictObject({
    user: z.strictObject({
      id: z.int(),
      email: z.string(),
      full_name: z.string().nullable(),
      role: z.enum(APP_ROLES),
      email_verified: z.boolean().meta({ description: "Whether the address was verified through the link of a message" }),
    }),
    tenant: z.strictObject({
      id: z.int(),
      name: z.string(),
      subscription_tier: z.string(),
      schema_name: z.string().meta({ description: "The PostgreSQL schema holding the tenant's data", example: "client_1" }),
    }),
  })
  .meta({ id: "Session", description: "The signed-in user and their tenant" });

const AuthResponse = SessionView.extend({
  access_token: z.string().meta({ description: "JWT to send as `Authorization: Bearer …`" }),
  token_type: z.literal("bearer"),
  expires_in: z.int().meta({ description: "Seconds the access token lives (ACCESS_TOKEN_TTL)" }),
  refresh_token: z.string().meta({ description: "Single use: exchange it at /api/auth/refresh for a new pair" }),
}).meta({ id: "AuthResponse", description: "A signed-in session: its tokens, user and tenant" });

const MailRequested = z
  .strictObject({ detail: z.string() })
  .meta({ id: "MailRequested", description: "The same answer whether or not an account has this address" });

const Invited = z.strictObject({ id: z.int().meta({ description: "The invitation's id" }) }).meta({ id: "Invited" });

const Invitations = z
  .strictObject({
    invitations: z.array(
      z.strictObject({
        id: z.int(),
        email: z.string(),
        full_name: z.string().nullable(),
        role: z.enum(APP_ROLES),
        invited_by: z
          .int()
          .nullable()
          .meta({ description: "The admin who sent (or last resent) it; null for one made before invitations were rows" }),
        created_at: z.string(),
        expires_at: z.string(),
      }),
    ),
  })
  .meta({ id: "Invitations", description: "The tenant's pending (unexpired) invitations, oldest first" });

const EmailChangeConfirmation = z
  .strictObject({
    changed: z.boolean().meta({ description: "True when this was the second confirmation: the address changed and every session ended" }),
    detail: z.string(),
  })
  .meta({ id: "EmailChangeConfirmation" });

const Reauthenticated = z
  .strictObject({
    reauthenticated_until: z.string().meta({ description: "Until when this session may make sensitive changes (ISO 8601)" }),
  })
  .meta({ id: "Reauthenticated" });

const Health = z
  .strictObject({
    status: z.enum(["ok", "unavailable"]),
    service: z.string(),
    database: z.enum(["ok", "unreachable"]),
    code: z.literal("UNAVAILABLE").optional(),
  })
  .meta({ id: "Health" });

const Readiness = z
  .strictObject({
    status: z.enum(["ready", "not ready"]),
    reason: z.string().optional(),
    code: z.enum(["UNAVAILABLE", "NOT_READY"]).optional(),
    tenant_schemas_behind: z.int().optional().meta({
      description: "Tenant schemas behind the template (their requests get 503 `TENANT_MAINTENANCE`); the server serves the others",
    }),
    lagging_tenants: z.array(z.int()).optional().meta({ description: "The first 20 of their tenant ids" }),
  })
  .meta({ id: "Readiness" });

const Root = z
  .strictObject({
    message: z.string(),
    version: z.string(),
    graphql: z.string(),
    graphiql: z
      .string()
      .optional()
      .meta({ description: "The explorer, where it is served (ENABLE_GRAPHIQL; not in production by default)" }),
    health: z.string(),
    docs: z.string(),
    openapi: z.string(),
  })
  .meta({ id: "Root" });

export const json = (schema: z.ZodType, description: string): ResponseConfig => ({
  description,
  content: { "application/json": { schema } },
});

/** The successful answers, by the schema of their body. */
export const answer = {
  session: (description: string) => json(SessionView, description),
  signedIn: (description: string) => json(AuthResponse, description),
  mailRequested: (description: string) => json(MailRequested, description),
  invited: (description: string) => json(Invited, description),
  invitations: (description: string) => json(Invitations, description),
  emailChangeConfirmed: (description: string) => json(EmailChangeConfirmation, description),
  reauthenticated: (description: string) => json(Reauthenticated, description),
  health: (description: string) => json(Health, description),
  readiness: (description: string) => json(Readiness, description),
  root: (description: string) => json(Root, description),
  checkout: (description: string) => json(CheckoutSession, description),
  subscription: (description: string) => json(SubscriptionState, description),
  webhookReceipt: (description: string) => json(WebhookReceipt, description),
  empty: (description: string): ResponseConfig => ({ description }),
};

/** One refusal a route can answer: HTTP status, the stable `code` of its body, and what it means there. */
export type Refusal = readonly [status: number, code: string, meaning: string];

const RETRY: Refusal[1][] = ["TOO_MANY_REQUESTS", "TOO_MANY_ATTEMPTS", "BUSY", "UNAVAILABLE", "TENANT_MAINTENANCE"];

/** Every route but the probes: the client's line, the unexpected, the database. */
const THROUGH_THE_LINES: Refusal[] = [
  [429, "TOO_MANY_REQUESTS", "this client address has too many requests in progress (`HTTP_CLIENT_CONCURRENCY`, `HTTP_CLIENT_QUEUE`)"],
  [500, "INTERNAL", "an unexpected error, logged on the server with the `id` given"],
  [503, "UNAVAILABLE", "the database cannot serve right now"],
];
const SERVER_LINE: Refusal = [503, "BUSY", "the server's line is full (`HTTP_SERVER_QUEUE`)"];
const BCRYPT_LINE: Refusal = [503, "BUSY", "the password-hashing line is full (`BCRYPT_QUEUE_LIMIT`)"];
/** Every route behind the bearer check, when the request has an `Authorization` header, even a route that needs none. */
const TOKEN_SENT: Refusal[] = [
  [401, "INVALID_TOKEN", "the `Authorization` header is not the bearer token of a live session (checked wherever it is sent)"],
  [503, "TENANT_MAINTENANCE", "the token's tenant schema is being migrated; other tenants are served"],
];
const NO_TOKEN: Refusal = [401, "UNAUTHENTICATED", "no bearer token"];
const JSON_BODY: Refusal[] = [
  [400, "BAD_REQUEST", "the body is not JSON"],
  [413, "BAD_REQUEST", `the body is larger than ${REST_BODY_BYTES / 1024} kB`],
  [415, "UNSUPPORTED_MEDIA_TYPE", "a body that is not `application/json` in UTF-8"],
  [422, "INVALID_INPUT", "a field breaks a rule; `detail` names the field and the rule"],
];

/** The refusals of the routes that take the token of an e-mailed link. */
export const LINK_TOKEN: Refusal[] = [
  [400, "TOKEN_INVALID", "the link's token is unknown, of another purpose, or the account changed since it was sent"],
  [400, "TOKEN_USED", "the link was already used"],
  [400, "TOKEN_EXPIRED", "the link expired: ask for a new one"],
  [429, "TOO_MANY_ATTEMPTS", "too many links tried from this client address (`TOKEN_ATTEMPTS_PER_ADDRESS`)"],
];

/** Where a route sits on the request's path decides the refusals it shares with the others. */
export interface Placement {
  /** A probe: outside the lines and the token check. */
  probe?: boolean;
  /** Needs a signed-in user (a bearer token). */
  signedIn?: boolean;
  /** Reads a JSON body. */
  body?: boolean;
  /** Hashes a password: waits in bcrypt's line instead of the server's. */
  hashes?: boolean;
}

export function refusalsOf(own: Refusal[], { probe, signedIn, body, hashes }: Placement): Refusal[] {
  if (probe) return own;
  return [
    ...THROUGH_THE_LINES,
    hashes ? BCRYPT_LINE : SERVER_LINE,
    ...TOKEN_SENT,
    ...(signedIn ? [NO_TOKEN] : []),
    ...(body ? JSON_BODY : []),
    ...own,
  ];
}

const errorBody = (codes: [string, ...string[]], logged: boolean) =>
  z.strictObject({
    detail: z.string().meta({ description: "What went wrong, in words a person can read" }),
    code: z.enum(codes).meta({ description: "Stable code a client can act on" }),
    ...(logged ? { id: z.string().meta({ description: "The id the error was logged with on the server" }) } : {}),
  });

const RETRY_AFTER = { description: "Seconds to wait before retrying", schema: { type: "integer" as const, minimum: 1 } };
const WWW_AUTHENTICATE = { description: "`Bearer`", schema: { type: "string" as const } };

/** The refusals as OpenAPI responses: one per status, whose body's `code` is one of the codes listed for it. */
export function refusalResponses(refusals: Refusal[]): Record<number, ResponseConfig> {
  const byStatus = new Map<number, Map<string, string[]>>();
  for (const [status, code, meaning] of refusals) {
    const codes = byStatus.get(status) ?? byStatus.set(status, new Map()).get(status)!;
    codes.set(code, [...(codes.get(code) ?? []), meaning]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, meanings]) => {
      const codes = [...meanings.keys()] as [string, ...string[]];
      const description = [...meanings].map(([code, what]) => `\`${code}\`: ${what.join(", or ")}`).join("; ");
      const headers = {
        ...(codes.some((code) => RETRY.includes(code)) ? { "Retry-After": RETRY_AFTER } : {}),
        ...(status === 401 ? { "WWW-Authenticate": WWW_AUTHENTICATE } : {}),
      };
      return [status, { ...json(errorBody(codes, status === 500), description), ...(Object.keys(headers).length ? { headers } : {}) }];
    }),
  );
}

/** What Node's HTTP server answers on any path before a route runs (a probe's only 4xx); no body. */
export const REFUSED_BEFORE_ANY_ROUTE: ResponseConfig = {
  description:
    "Refused by the HTTP server itself: 400 a malformed request, 408 headers or body too slow (`HTTP_HEADERS_TIMEOUT_MS`, `HTTP_REQUEST_TIMEOUT_MS`), 431 headers too large",
};

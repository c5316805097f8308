import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from "@asteasolutions/zod-to-openapi";
import { z } from "zod";
import {
  AcceptInvitationInput, ChangePasswordInput, EmailChangeInput, EmailTokenInput, InvitationInput, LoginInput, MailRequestInput,
  RefreshInput, RegisterInput, ResetPasswordInput,
} from "../auth/inputs.ts";
import { APP_ROLES } from "../auth/roles.ts";

/**
 * The OpenAPI 3.1 document of the REST routes (served at /openapi.json, browsed at /docs). Request
 * bodies are the schemas the routes validate with (src/auth/inputs.ts); responses are described
 * here, and test/api/openapi.test.ts checks every route's real answers against them.
 */

const ErrorBody = z.strictObject({
  detail: z.string().meta({ description: "What went wrong, in words a person can read" }),
  code: z.string().meta({ description: "Stable code a client can act on (README: Calling the API)", example: "INVALID_INPUT" }),
  id: z.string().optional().meta({ description: "The id an unexpected error was logged with (500)" }),
}).meta({ id: "Error" });

const SessionView = z.strictObject({
  user: z.strictObject({
    id: z.int(), email: z.string(), full_name: z.string().nullable(), role: z.enum(APP_ROLES),
    email_verified: z.boolean().meta({ description: "Whether the address was verified through the link of a message" }),
  }),
  tenant: z.strictObject({
    id: z.int(), name: z.string(), subscription_tier: z.string(),
    schema_name: z.string().meta({ description: "The PostgreSQL schema holding the tenant's data", example: "client_1" }),
  }),
}).meta({ id: "Session", description: "The signed-in user and their tenant" });

const AuthResponse = SessionView.extend({
  access_token: z.string().meta({ description: "JWT to send as `Authorization: Bearer …`" }),
  token_type: z.literal("bearer"),
  expires_in: z.int().meta({ description: "Seconds the access token lives (ACCESS_TOKEN_TTL)" }),
  refresh_token: z.string().meta({ description: "Single use: exchange it at /api/auth/refresh for a new pair" }),
}).meta({ id: "AuthResponse" });

const MailRequested = z.strictObject({ detail: z.string() })
  .meta({ id: "MailRequested", description: "The same answer whether or not an account has this address" });

const Invited = z.strictObject({ id: z.int().meta({ description: "The invited user's id" }) }).meta({ id: "Invited" });

const Health = z.strictObject({
  status: z.enum(["ok", "unavailable"]), service: z.string(), database: z.enum(["ok", "unreachable"]), code: z.literal("UNAVAILABLE").optional(),
}).meta({ id: "Health" });

const Readiness = z.strictObject({
  status: z.enum(["ready", "not ready"]), reason: z.string().optional(), code: z.enum(["UNAVAILABLE", "NOT_READY"]).optional(),
  tenant_schemas_behind: z.int().optional()
    .meta({ description: "Tenant schemas behind the template (their requests get 503 `TENANT_MAINTENANCE`); the server serves the others" }),
  lagging_tenants: z.array(z.int()).optional().meta({ description: "The first 20 of their tenant ids" }),
}).meta({ id: "Readiness" });

const Root = z.strictObject({
  message: z.string(), version: z.string(), graphql: z.string(), graphiql: z.string(), health: z.string(), docs: z.string(), openapi: z.string(),
}).meta({ id: "Root" });

/** What each refusal means; every route lists the ones it can answer. */
const REFUSALS: Record<number, string> = {
  400: "`EMAIL_TAKEN`, `BAD_REQUEST` (malformed JSON), or for a link's token `TOKEN_INVALID` (unknown, of another purpose, account changed), `TOKEN_USED`, `TOKEN_EXPIRED`",
  401: "`UNAUTHENTICATED` (no token), `INVALID_TOKEN` (a bad or ended token), `INVALID_CREDENTIALS`, `INVALID_REFRESH_TOKEN`",
  403: "`INVALID_CREDENTIALS`: the current password is wrong; `FORBIDDEN`: only a tenant admin invites; `EMAIL_NOT_VERIFIED`: sign-in before the address is verified (LOGIN_REQUIRES_VERIFIED_EMAIL)",
  409: "`CONFLICT`: the request lost a race with another change; nothing was kept, retry",
  413: "`BAD_REQUEST`: the body is larger than 16 kB",
  415: "`UNSUPPORTED_MEDIA_TYPE`: a body that is not `application/json`",
  422: "`INVALID_INPUT`: the message names the field and the rule",
  429: "`TOO_MANY_ATTEMPTS` or `TOO_MANY_REQUESTS`; retry after `Retry-After` seconds",
  500: "`INTERNAL`: logged with the `id` given",
  503: "`UNAVAILABLE` (the database cannot serve), `BUSY`, or `TENANT_MAINTENANCE` (the token's tenant schema is being migrated); retry after `Retry-After` seconds",
};
/** Every route behind the bearer check and the per-address limit can answer these. */
const ALWAYS = [401, 429, 500, 503];
const WITH_BODY = [400, 413, 415, 422];

const json = (schema: z.ZodType, description: string) => ({ description, content: { "application/json": { schema } } });

function refusals(statuses: number[]): RouteConfig["responses"] {
  return Object.fromEntries([...new Set([...statuses, ...ALWAYS])].map((status) => [status, json(ErrorBody, REFUSALS[status]!)]));
}

const body = (schema: z.ZodType) => ({ body: { required: true, content: { "application/json": { schema } } } });
const signedIn = [{ bearer: [] }];

const ROUTES: RouteConfig[] = [
  {
    method: "post", path: "/api/auth/register", summary: "Create a tenant and its admin", request: body(RegisterInput),
    responses: { 201: json(AuthResponse, "Signed in as the new tenant's admin"), ...refusals(WITH_BODY) },
  },
  {
    method: "post", path: "/api/auth/login", summary: "Sign in", request: body(LoginInput),
    responses: { 200: json(AuthResponse, "Signed in"), ...refusals([...WITH_BODY, 403]) },
  },
  {
    method: "post", path: "/api/auth/refresh", summary: "Exchange a refresh token for a new pair", request: body(RefreshInput),
    responses: { 200: json(AuthResponse, "A new pair; the old refresh token is spent"), ...refusals(WITH_BODY) },
  },
  {
    method: "get", path: "/api/auth/session", summary: "The signed-in user and tenant", security: signedIn,
    responses: { 200: json(SessionView, "The session"), ...refusals([]) },
  },
  {
    method: "post", path: "/api/auth/logout", summary: "End the session (its access and refresh tokens)", security: signedIn,
    responses: { 204: { description: "Ended" }, ...refusals([]) },
  },
  {
    method: "post", path: "/api/auth/change-password", summary: "Change the password; ends the other sessions", security: signedIn,
    request: body(ChangePasswordInput),
    responses: { 204: { description: "Changed" }, ...refusals([...WITH_BODY, 403, 409]) },
  },
  {
    method: "post", path: "/api/auth/verify-email", summary: "Verify the address with the token of a verification message",
    request: body(EmailTokenInput), responses: { 204: { description: "Verified" }, ...refusals(WITH_BODY) },
  },
  {
    method: "post", path: "/api/auth/resend-verification", summary: "Send the verification message again (if the address has an unverified account)",
    request: body(MailRequestInput), responses: { 202: json(MailRequested, "Queued, if an account fits"), ...refusals(WITH_BODY) },
  },
  {
    method: "post", path: "/api/auth/forgot-password", summary: "Mail a password-reset link (if the address has an account)",
    request: body(MailRequestInput), responses: { 202: json(MailRequested, "Queued, if an account fits"), ...refusals(WITH_BODY) },
  },
  {
    method: "post", path: "/api/auth/reset-password", summary: "Set a new password with the token of a reset message; ends every session",
    request: body(ResetPasswordInput), responses: { 204: { description: "Changed; sign in with the new password" }, ...refusals(WITH_BODY) },
  },
  {
    method: "post", path: "/api/auth/invitations", summary: "Invite a user into the admin's tenant by e-mail and role (admins only)",
    security: signedIn, request: body(InvitationInput),
    responses: { 201: json(Invited, "Invited: the user exists without a password, the invitation is mailed"), ...refusals([...WITH_BODY, 403]) },
  },
  {
    method: "post", path: "/api/auth/accept-invitation", summary: "Choose a password with the token of an invitation, and sign in",
    request: body(AcceptInvitationInput), responses: { 200: json(AuthResponse, "Signed in as the invited user"), ...refusals(WITH_BODY) },
  },
  {
    method: "post", path: "/api/auth/change-email", summary: "Ask to move to a new address: a confirmation link goes there",
    security: signedIn, request: body(EmailChangeInput),
    responses: { 202: json(MailRequested, "Queued, unless an account has that address"), ...refusals(WITH_BODY) },
  },
  {
    method: "post", path: "/api/auth/confirm-email-change", summary: "Confirm the new address with the token of its message; the old address is told",
    request: body(EmailTokenInput), responses: { 204: { description: "The address changed" }, ...refusals(WITH_BODY) },
  },
  {
    method: "get", path: "/health", summary: "Liveness: does the database answer within two seconds",
    responses: { 200: json(Health, "Up"), 503: json(Health, "The database does not answer; `Retry-After`") },
  },
  {
    method: "get", path: "/ready", summary: "Readiness: database up, migrations applied; lagging tenants listed",
    responses: { 200: json(Readiness, "Ready"), 503: json(Readiness, "Not ready, with the reason; `Retry-After`") },
  },
  {
    method: "get", path: "/", summary: "Name, version and links",
    responses: { 200: json(Root, "Where to go"), ...refusals([]) },
  },
];

/** The document, generated once per server. */
export function openApiDocument(version: string) {
  const registry = new OpenAPIRegistry();
  registry.registerComponent("securitySchemes", "bearer", {
    type: "http", scheme: "bearer", bearerFormat: "JWT", description: "The `access_token` of register, login or refresh",
  });
  for (const route of ROUTES) registry.registerPath(route);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: {
      title: "Stoflow REST API", version,
      description: "Sign-up, sign-in and sessions, and the probes. The data itself is served by GraphQL at `/graphql` (explorer at `/graphiql`).",
    },
  });
}

import { codeOfPgError } from "./db/error-codes.ts";
import { isDatabaseUnavailable, UNAVAILABLE } from "./db/unavailable.ts";

/**
 * The app's errors, and the one function that decides how an error is answered over HTTP
 * (`classify`, modelled on PostgREST's Error.hs: errorResponseFor, pgErrorStatus). REST's error
 * responder (src/http/errors.ts), GraphQL's maskError (src/graphql/errors.ts) and GraphQL's status
 * plugin (src/graphql/answer-status.ts) all read it.
 */

/**
 * An error a client can act on, with a stable code. REST answers with `status`; GraphQL puts
 * `code` in `extensions`. Anything that is not a ClientError is masked.
 */
export class ClientError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: string, status: number, message: string, retryAfterSeconds?: number) {
    super(message);
    this.code = code;
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export const invalidInput = (message: string) => new ClientError("INVALID_INPUT", 422, message);
export const invalidToken = (message = "Could not validate credentials") => new ClientError("INVALID_TOKEN", 401, message);
export const notAuthenticated = () => new ClientError("UNAUTHENTICATED", 401, "Not authenticated");
export const wrongCredentials = () => new ClientError("INVALID_CREDENTIALS", 401, "Incorrect email or password");
export const emailTaken = () => new ClientError("EMAIL_TAKEN", 400, "Email already registered");
export const forbidden = (message: string) => new ClientError("FORBIDDEN", 403, message);
export const tooManyAttempts = (seconds: number, what = "login attempts") =>
  new ClientError("TOO_MANY_ATTEMPTS", 429, `Too many ${what}; retry in ${seconds} seconds`, seconds);
/** bcrypt's line is full: come back in a moment. */
export const busy = (message = "The server is busy; retry in 1 second") => new ClientError("BUSY", 503, message, 1);
/** The request lost a race with another change of the same data; retrying is safe. */
/** A mutation field whose changes were undone with its request's (mutation-transaction.ts): another field failed. */
export const rolledBack = () =>
  new ClientError(
    "ROLLED_BACK",
    409,
    "Not kept: another mutation of this request failed, and the request's changes were rolled back together",
  );
export const conflict = (message = "The request conflicted with another change; retry it") => new ClientError("CONFLICT", 409, message);
/** The tenant's schema is being migrated (or its migration failed): nothing else of the server is wrong. */
export const tenantMaintenance = () =>
  new ClientError("TENANT_MAINTENANCE", 503, "This tenant's data is under maintenance; retry later", 60);

/** An e-mailed token that cannot do what is asked: unknown or of another purpose (TOKEN_INVALID), used (TOKEN_USED), expired (TOKEN_EXPIRED). */
export function tokenRefused(outcome: string): ClientError {
  if (outcome === "used") return new ClientError("TOKEN_USED", 400, "This link was already used");
  if (outcome === "expired") return new ClientError("TOKEN_EXPIRED", 400, "This link has expired; ask for a new one");
  return new ClientError("TOKEN_INVALID", 400, "This link is not valid");
}

/** A sensitive change (the admin role, deleting the tenant) from a session that has not confirmed the password lately (sudo mode). */
export const reauthenticationRequired = (message: string) => new ClientError("REAUTHENTICATION_REQUIRED", 403, message);

/** LOGIN_REQUIRES_VERIFIED_EMAIL: the right password, but the address is not verified yet. */
export const emailNotVerified = () =>
  new ClientError(
    "EMAIL_NOT_VERIFIED",
    403,
    "Verify your e-mail address first: follow the link of the message we sent (resend-verification sends it again)",
  );

/** An export beyond EXPORT_MAX_BYTES or its time limit (public.export_tenant_data, SFBIG). */
const exportTooLarge = (message: string) => new ClientError("EXPORT_TOO_LARGE", 413, message);

/** SQL's refusals answered as the app's own ClientError, by their stable code (src/db/error-codes.ts). */
const REFUSAL_OF_CODE: Readonly<Record<string, (message: string) => ClientError>> = {
  INVALID_TOKEN: invalidToken, // app_private.require_live_session (SFSES): the session ended
  TENANT_MAINTENANCE: tenantMaintenance, // app_private.assert_tenant_available (SFMNT)
  REAUTHENTICATION_REQUIRED: reauthenticationRequired, // app_private.require_reauthentication (SFRAU)
  EXPORT_TOO_LARGE: exportTooLarge,
};

/** The ClientError a PostgreSQL refusal stands for (a dead session, a tenant under maintenance…), or undefined. */
export function refusalOf(error: unknown): ClientError | undefined {
  const code = codeOfPgError(error);
  return code && Object.hasOwn(REFUSAL_OF_CODE, code) ? REFUSAL_OF_CODE[code]((error as Error).message) : undefined;
}

/** How an error is answered: HTTP status, stable code, message, and when to retry (seconds). */
export interface Classified {
  status: number;
  code: string;
  message: string;
  retryAfterSeconds?: number | undefined;
}

/**
 * How `error` is answered, or undefined for an error no client may read (masked: 500 with an id on
 * REST, an INTERNAL error on GraphQL). A ClientError answers for itself; a database that cannot
 * serve is 503 UNAVAILABLE; SQL's refusals with a status of their own (REFUSAL_OF_CODE) are their
 * ClientError; a body the HTTP layer could not read (body-parser's errors) is 415 or 400.
 */
export function classify(error: unknown): Classified | undefined {
  const refusal = error instanceof ClientError ? error : refusalOf(error);
  if (refusal)
    return { status: refusal.status, code: refusal.code, message: refusal.message, retryAfterSeconds: refusal.retryAfterSeconds };
  if (isDatabaseUnavailable(error)) return UNAVAILABLE;
  return unreadableBody(error);
}

/** body-parser's refusals: a charset or content encoding it cannot read (415), a body too large or malformed (400, 413). */
function unreadableBody(error: unknown): Classified | undefined {
  const { status, type } = (error ?? {}) as { status?: unknown; type?: unknown };
  if (typeof status !== "number" || status < 400 || status >= 500) return undefined;
  if (status === 415)
    return { status, code: "UNSUPPORTED_MEDIA_TYPE", message: "Send the body as JSON in UTF-8 (Content-Type: application/json)" };
  return { status, code: "BAD_REQUEST", message: type === "entity.too.large" ? "Request body too large" : "Malformed request body" };
}

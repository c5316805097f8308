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
export const tooManyAttempts = (seconds: number, what = "failed logins") =>
  new ClientError("TOO_MANY_ATTEMPTS", 429, `Too many ${what}; retry in ${seconds} seconds`, seconds);
/** Every place in bcrypt's line is taken: come back in a moment. */
export const busy = (message = "The server is busy; retry in 1 second") => new ClientError("BUSY", 503, message, 1);
/** The request lost a race with another change of the same data; retrying is safe. */
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
export const emailNotVerified = () => new ClientError("EMAIL_NOT_VERIFIED", 403,
  "Verify your e-mail address first: follow the link of the message we sent (resend-verification sends it again)");

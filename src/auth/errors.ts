/**
 * An error a client can act on, with a stable code. REST answers with `status`; GraphQL puts
 * `code` in `extensions`. Anything that is not an AuthError is masked.
 */
export class AuthError extends Error {
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

export const invalidInput = (message: string) => new AuthError("INVALID_INPUT", 422, message);
export const invalidToken = (message = "Could not validate credentials") => new AuthError("INVALID_TOKEN", 401, message);
export const notAuthenticated = () => new AuthError("UNAUTHENTICATED", 401, "Not authenticated");
export const wrongCredentials = () => new AuthError("INVALID_CREDENTIALS", 401, "Incorrect email or password");
export const emailTaken = () => new AuthError("EMAIL_TAKEN", 400, "Email already registered");
export const forbidden = (message: string) => new AuthError("FORBIDDEN", 403, message);
export const tooManyAttempts = (seconds: number, what = "failed logins") =>
  new AuthError("TOO_MANY_ATTEMPTS", 429, `Too many ${what}; retry in ${seconds} seconds`, seconds);
/** Every place in bcrypt's line is taken: come back in a moment. */
export const busy = (message = "The server is busy; retry in 1 second") => new AuthError("BUSY", 503, message, 1);
/** The request lost a race with another change of the same data; retrying is safe. */
export const conflict = (message = "The request conflicted with another change; retry it") => new AuthError("CONFLICT", 409, message);
/** SQLSTATE of app_private.assert_tenant_available: the tenant's schema lags behind the template. */
export const TENANT_MAINTENANCE_SQLSTATE = "SFMNT";
/** The tenant's schema is being migrated (or its migration failed): nothing else of the server is wrong. */
export const tenantMaintenance = () =>
  new AuthError("TENANT_MAINTENANCE", 503, "This tenant's data is under maintenance; retry later", 60);

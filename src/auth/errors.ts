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
export const tooManyAttempts = (seconds: number) =>
  new AuthError("TOO_MANY_ATTEMPTS", 429, `Too many failed logins; retry in ${seconds} seconds`, seconds);

import { isProduction } from "./env.ts";
import { integer, optional, text } from "./fields.ts";

/** Attempts allowed per window; each is reserved before bcrypt runs (see app_private.reserve_attempts). */
export interface ThrottleConfig {
  /** Wrong passwords for one e-mail per login window, shared by every address not known to the account (and apart for each known one). */
  loginFailuresPerEmail: number;
  /** Days an address that signed in to an account stays known to it (0: no address is known, all share the e-mail's count). */
  loginKnownAddressDays: number;
  /** Logins from one client address per login window (a successful one is given back). */
  loginAttemptsPerAddress: number;
  loginWindowSeconds: number;
  /** Wrong current passwords per user per login window, on change-password, change-email and confirm-password together. */
  passwordChangeFailuresPerUser: number;
  /** Seconds a session may make sensitive changes (the admin role, deleting the tenant) after confirming the password (sudo mode). */
  reauthenticationTtlSeconds: number;
  /** Registrations (each creates a schema) per client address and per e-mail per hour. */
  registrationsPerAddressPerHour: number;
  registrationsPerEmailPerHour: number;
}

export interface JwtConfig {
  algorithm: "HS256" | "RS256" | "ES256";
  /** HS256: the secret; RS256/ES256: the PEM private key. */
  signingKey: string;
  /** HS256: the secret; RS256/ES256: the PEM public key. */
  verifyingKey: string;
  issuer: string;
  audience: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

export function readJwtConfig(env: NodeJS.ProcessEnv, generatedSecret: string | undefined): JwtConfig {
  const common = {
    issuer: text(env, "JWT_ISSUER", "stoflow"),
    audience: text(env, "JWT_AUDIENCE", "stoflow-api"),
    accessTtlSeconds: integer(env, "ACCESS_TOKEN_TTL", 900, 30, 86_400),
    refreshTtlSeconds: integer(env, "REFRESH_TOKEN_TTL", 30 * 86_400, 60, 365 * 86_400),
  };
  const privateKey = optional(env, "JWT_PRIVATE_KEY");
  const publicKey = optional(env, "JWT_PUBLIC_KEY");
  const algorithm = text(env, "JWT_ALGORITHM", "RS256") === "ES256" ? "ES256" : "RS256";
  if (privateKey || publicKey) {
    if (!privateKey || !publicKey) throw new Error("JWT_PRIVATE_KEY and JWT_PUBLIC_KEY go together");
    return { ...common, algorithm, signingKey: privateKey, verifyingKey: publicKey };
  }
  const secret = optional(env, "JWT_SECRET") ?? (isProduction(env) ? undefined : generatedSecret);
  if (!secret || secret.length < 32) {
    throw new Error("JWT_SECRET must be set to at least 32 characters (or JWT_PRIVATE_KEY/JWT_PUBLIC_KEY)");
  }
  return { ...common, algorithm: "HS256", signingKey: secret, verifyingKey: secret };
}

export function readThrottleConfig(env: NodeJS.ProcessEnv): ThrottleConfig {
  return {
    loginFailuresPerEmail: integer(env, "LOGIN_MAX_FAILURES_PER_EMAIL", 5, 1, 1_000_000),
    loginKnownAddressDays: integer(env, "LOGIN_KNOWN_ADDRESS_DAYS", 30, 0, 3650),
    loginAttemptsPerAddress: integer(env, "LOGIN_MAX_ATTEMPTS_PER_ADDRESS", 50, 1, 1_000_000),
    loginWindowSeconds: integer(env, "LOGIN_THROTTLE_WINDOW", 900, 1, 86_400),
    passwordChangeFailuresPerUser: integer(env, "CHANGE_PASSWORD_MAX_FAILURES", 5, 1, 1_000_000),
    reauthenticationTtlSeconds: integer(env, "REAUTHENTICATION_TTL", 600, 1, 86_400),
    registrationsPerAddressPerHour: integer(env, "REGISTRATIONS_PER_ADDRESS_PER_HOUR", 10, 1, 1_000_000),
    registrationsPerEmailPerHour: integer(env, "REGISTRATIONS_PER_EMAIL_PER_HOUR", 3, 1, 1_000_000),
  };
}

/** BCRYPT_COST: the work factor of every password hash, the server's and the operator's. */
export const readBcryptCost = (env: NodeJS.ProcessEnv) => integer(env, "BCRYPT_COST", 12, 4, 15);

import type pg from "pg";
import type { JwtConfig, ThrottleConfig } from "../config/auth.ts";
import { billingSqlSettings, type BillingConfig } from "../config/billing.ts";
import type { MailConfig } from "../config/mail.ts";
import type { ServerConfig } from "../config/server.ts";
import { mailLinkFlows } from "./mail-links.ts";
import { createPasswordHasher, type PasswordHasher } from "./passwords.ts";
import { passwordChangeFlows } from "./password-change.ts";
import { registrationFlows } from "./registration.ts";
import { sessionIssuer } from "./session-tokens.ts";
import { sessionFlows } from "./sessions.ts";
import { teamFlows } from "./team.ts";

export type { AuthResponse, SessionView } from "./session-tokens.ts";

export interface AuthDependencies {
  /** Connections as stoflow_authenticator; every query here runs as role stoflow_auth. */
  pool: pg.Pool;
  jwt: JwtConfig;
  passwords: PasswordHasher;
  throttle: ThrottleConfig;
  /** Run the per-request session check as a named prepared statement (DATABASE_PREPARED_STATEMENTS). */
  preparedStatements: boolean;
  mail: MailConfig;
  /** Whether a paid tier asked for at registration starts as a trial (BILLING, TRIAL_DAYS). */
  billing: BillingConfig;
}

/**
 * Every auth flow, shared by the REST routes and the GraphQL mutations, one file per flow:
 * sessions.ts, registration.ts, password-change.ts, team.ts, mail-links.ts. Every flow that runs
 * bcrypt takes its turn in bcrypt's line first (BUSY when full), then reserves its throttle slot
 * in PostgreSQL (TOO_MANY_ATTEMPTS when none is left), and only then hashes.
 */
export function createAuthService(deps: AuthDependencies) {
  const { pool, jwt, passwords, throttle, mail, billing } = deps;
  const issuer = sessionIssuer(jwt);
  const mailLinks = mailLinkFlows(pool, mail, throttle, passwords);
  return {
    ...mailLinks.flows,
    ...teamFlows(pool, mail, passwords, mailLinks.links, issuer),
    ...registrationFlows(pool, passwords, throttle, issuer, billingSqlSettings(billing)),
    ...passwordChangeFlows(pool, passwords, throttle),
    ...sessionFlows({ ...deps, loginRequiresVerifiedEmail: mail.loginRequiresVerifiedEmail }, issuer),
  };
}

export type AuthService = ReturnType<typeof createAuthService>;

/** The auth service of a server with these settings (its own bcrypt line). */
export function authServiceFor(pool: pg.Pool, config: ServerConfig): AuthService {
  const passwords = createPasswordHasher({
    cost: config.bcryptCost,
    concurrency: config.bcryptConcurrency,
    queueLimit: config.bcryptQueueLimit,
    nice: config.bcryptNice,
  });
  return createAuthService({
    pool,
    jwt: config.jwt,
    passwords,
    throttle: config.throttle,
    preparedStatements: config.preparedStatements,
    mail: config.mail,
    billing: config.billing,
  });
}

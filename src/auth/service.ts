import type pg from "pg";
import type { JwtConfig, ThrottleConfig } from "../config/auth.ts";
import type { MailConfig } from "../config/mail.ts";
import type { ServerConfig } from "../config/server.ts";
import { accountMailFlows } from "./account-mail.ts";
import { checkCurrentPassword } from "./current-password.ts";
import { emailChangeFlows } from "./email-change.ts";
import { invitationFlows } from "./invitations.ts";
import { ClientError, conflict, emailNotVerified, emailTaken, invalidInput, tokenRefused, tooManyAttempts, wrongCredentials } from "./errors.ts";
import {
  AcceptInvitationInput, ChangePasswordInput, ConfirmPasswordInput, LoginInput, parseInput, RefreshInput, RegisterInput,
} from "./inputs.ts";
import { createPasswordHasher, type PasswordHasher } from "./passwords.ts";
import { statement } from "../db/statements.ts";
import { claimSettings } from "./claim-settings.ts";
import { AUTH_PG_ROLE, type AppRole } from "./roles.ts";
import { inTransaction, refusal, type Query } from "./transactions.ts";
import { codeOfPgError } from "../db/error-codes.ts";
import {
  hashOpaqueToken, newOpaqueToken, signAccessToken, verifyAccessToken, type SessionClaims,
} from "./tokens.ts";

export interface AuthDependencies {
  /** Connections as stoflow_authenticator; every query here runs as role stoflow_auth. */
  pool: pg.Pool;
  jwt: JwtConfig;
  passwords: PasswordHasher;
  throttle: ThrottleConfig;
  /** Run the per-request session check as a named prepared statement (DATABASE_PREPARED_STATEMENTS). */
  preparedStatements: boolean;
  mail: MailConfig;
}

/** The user and tenant of a session, in the seed's JSON shape. */
export interface SessionView {
  user: { id: number; email: string; full_name: string | null; role: string; email_verified: boolean };
  tenant: { id: number; name: string; subscription_tier: string; schema_name: string };
}

export interface AuthResponse extends SessionView {
  access_token: string;
  token_type: "bearer";
  expires_in: number;
  refresh_token: string;
}

/** What the first step of a password check returns (app_private.begin_login, begin_password_change). */
interface PasswordCheck {
  retry_after: number;
  user_id?: number | null;
  password_hash: string | null;
  credential_version: number | null;
}

const HOUR = 3600;

/**
 * Sign-up, sign-in and sessions, shared by the REST routes and the GraphQL mutations. Every flow
 * that runs bcrypt takes its place in bcrypt's line first (BUSY when full), then reserves its
 * throttle slot in PostgreSQL (TOO_MANY_ATTEMPTS when none is left), and only then hashes.
 */
export function createAuthService({ pool, jwt, passwords, throttle, preparedStatements, mail }: AuthDependencies) {
  const asAuth = <T>(work: (query: Query) => Promise<T>) => inTransaction(pool, { role: AUTH_PG_ROLE }, work);
  // The same, for a signed-in user's request: the transaction opens with its session check.
  const asSession = <T>(session: SessionClaims, work: (query: Query) => Promise<T>) =>
    inTransaction(pool, { role: AUTH_PG_ROLE, ...claimSettings(session) }, work);
  const ttl = `${jwt.refreshTtlSeconds} seconds`;

  async function tokensFor(query: Query, userId: number, sessionId: string, refreshToken: string): Promise<AuthResponse> {
    const view = await sessionView(query, userId);
    const claims = { userId, tenantId: view.tenant.id, role: view.user.role as AppRole, sessionId };
    return {
      access_token: signAccessToken(jwt, claims),
      token_type: "bearer",
      expires_in: jwt.accessTtlSeconds,
      refresh_token: refreshToken,
      ...view,
    };
  }

  const mailFlows = accountMailFlows(pool, mail, passwords);
  const emailChange = emailChangeFlows(pool, mail, throttle, passwords, mailFlows);

  return {
    verifyEmail: mailFlows.verifyEmail,
    resendVerification: (input: Record<string, unknown>, clientIp: string) => mailFlows.requestMail(input, "verify_email", clientIp),
    forgotPassword: (input: Record<string, unknown>, clientIp: string) => mailFlows.requestMail(input, "reset_password", clientIp),
    resetPassword: mailFlows.resetPassword,
    requestEmailChange: emailChange.request,
    confirmEmailChange: emailChange.confirm,
    cancelEmailChange: emailChange.cancel,

    invitations: invitationFlows(pool, mail),

    /** The invitee chooses their password through the invitation's link, and is signed in. */
    async acceptInvitation(input: Record<string, unknown>, clientIp: string): Promise<AuthResponse> {
      const { password } = parseInput(AcceptInvitationInput, input);
      return passwords.inLine(async (bcrypt) => {
        const token = await mailFlows.checkedToken(input, "invitation", clientIp);
        const hash = await bcrypt.hash(password);
        return asAuth(async (query) => {
          const accepted = (await query.row<{ outcome: string; user_id: number; credential_version: number }>(
            "select * from app_private.accept_invitation($1, $2)", [token, hash]))!;
          if (accepted.outcome !== "ok") throw tokenRefused(accepted.outcome);
          const refresh = newOpaqueToken();
          const sessionId = await query.value<string>("select app_private.open_session($1, $2, $3, $4)", [
            accepted.user_id, accepted.credential_version, refresh.hash, ttl,
          ]);
          return tokensFor(query, accepted.user_id, sessionId, refresh.token);
        });
      });
    },

    async register(input: Record<string, unknown>, clientIp: string): Promise<AuthResponse> {
      const registration = parseInput(RegisterInput, input);
      const { email, password } = registration;
      return passwords.inLine(async (bcrypt) => {
        const wait = await asAuth((query) => query.value<number>("select app_private.begin_registration($1, $2, $3, $4, $5)", [
          email, clientIp, throttle.registrationsPerAddressPerHour, throttle.registrationsPerEmailPerHour, HOUR,
        ]));
        if (wait > 0) throw tooManyAttempts(wait, "registrations");
        const hash = await bcrypt.hash(password);
        return asAuth(async (query) => {
          const { user_id: userId } = await insertTenant(query, registration, hash);
          const { credential_version } = (await query.row<PasswordCheck>("select * from app_private.login_candidate($1)", [email]))!;
          const refresh = newOpaqueToken();
          const sessionId = await query.value<string>("select app_private.open_session($1, $2, $3, $4)", [
            userId, credential_version, refresh.hash, ttl,
          ]);
          return tokensFor(query, userId, sessionId, refresh.token);
        });
      }, clientIp);
    },

    async login(input: Record<string, unknown>, clientIp: string): Promise<AuthResponse> {
      const { email, password } = parseInput(LoginInput, input);
      return passwords.inLine(async (bcrypt) => {
        const check = (await asAuth((query) => query.row<PasswordCheck>("select * from app_private.begin_login($1, $2, $3, $4, $5)", [
          email, clientIp, throttle.loginFailuresPerEmail, throttle.loginAttemptsPerAddress, throttle.loginWindowSeconds,
        ])))!;
        if (check.retry_after > 0) throw tooManyAttempts(check.retry_after);
        if (!(await bcrypt.matches(password, check.password_hash))) throw wrongCredentials();
        return asAuth(async (query) => {
          if (mail.loginRequiresVerifiedEmail) await requireVerified(query, check.user_id!);
          const refresh = newOpaqueToken();
          const sessionId = await query.value<string | null>("select app_private.finish_login($1, $2, $3, $4, $5, $6)", [
            check.user_id, check.credential_version, email, clientIp, refresh.hash, ttl,
          ]);
          if (sessionId === null) throw wrongCredentials(); // inactive, or the password changed while bcrypt ran
          return tokensFor(query, check.user_id!, sessionId, refresh.token);
        });
      }, clientIp);
    },

    async refresh(input: Record<string, unknown>): Promise<AuthResponse> {
      const { refresh_token: oldToken } = parseInput(RefreshInput, input);
      const next = newOpaqueToken();
      return asAuth(async (query) => {
        const result = await query.row<{ outcome: string; sub: number; session_id: string }>(
          "select * from app_private.rotate_refresh_token($1, $2, $3)", [hashOpaqueToken(oldToken), next.hash, ttl],
        );
        if (result?.outcome !== "ok") throw refreshRefused(result?.outcome);
        return tokensFor(query, result.sub, result.session_id, next.token);
      });
    },

    async logout(session: SessionClaims): Promise<void> {
      await asSession(session, (query) => query.run("select app_private.revoke_session($1, 'logout')", [session.sessionId]));
    },

    async changePassword(session: SessionClaims, input: Record<string, unknown>): Promise<void> {
      const { current_password: current, new_password: next } = parseInput(ChangePasswordInput, input);
      await passwords.inLine(async (bcrypt) => {
        const checkedVersion = await checkCurrentPassword(pool, throttle, session, current, bcrypt);
        const hash = await bcrypt.hash(next);
        const changed = await asAuth((query) => query.value<boolean>("select app_private.set_password($1, $2, $3, $4)", [
          session.userId, hash, session.sessionId, checkedVersion,
        ]));
        if (!changed) throw conflict("The password or this session changed meanwhile; sign in again");
      }, `user ${session.userId}`);
    },

    /**
     * Sudo mode (GitHub's): the password, checked again and throttled like a change of password,
     * lets this session make sensitive changes until the time returned (REAUTHENTICATION_TTL):
     * the admin role granted or taken, an admin deactivated or deleted, the tenant deleted. SQL
     * refuses those outside it (REAUTHENTICATION_REQUIRED, app_private.require_reauthentication).
     */
    async confirmPassword(session: SessionClaims, input: Record<string, unknown>): Promise<{ reauthenticated_until: string }> {
      const { password } = parseInput(ConfirmPasswordInput, input);
      return passwords.inLine(async (bcrypt) => {
        const checkedVersion = await checkCurrentPassword(pool, throttle, session, password, bcrypt);
        const until = await asAuth((query) => query.value<Date | null>("select app_private.confirm_password($1, $2, $3, $4)", [
          session.userId, session.sessionId, checkedVersion, `${throttle.reauthenticationTtlSeconds} seconds`,
        ]));
        if (!until) throw conflict("The password or this session changed meanwhile; sign in again");
        return { reauthenticated_until: until.toISOString() };
      }, `user ${session.userId}`);
    },

    session(session: SessionClaims): Promise<SessionView> {
      return asSession(session, (query) => sessionView(query, session.userId));
    },

    /** Verifies an access token's signature and claims only (its session is checked as a transaction opens). */
    verify(token: string): SessionClaims {
      return verifyAccessToken(jwt, token);
    },

    /**
     * Verifies an access token, then checks that its session is live and that the user and
     * tenant are still active with the role the token claims (app_private.require_live_session):
     * a deactivated user, a revoked session or a changed role is refused from the next request on.
     */
    async authorize(token: string): Promise<SessionClaims> {
      const claims = verifyAccessToken(jwt, token);
      // One prepared statement as the login role itself: no checkout of a transaction.
      await pool.query({
        ...statement("stoflow_require_live_session", "select app_private.require_live_session($1, $2, $3, $4)", preparedStatements),
        values: [claims.userId, claims.tenantId, claims.role, claims.sessionId],
      }).catch(refusal);
      return claims;
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;

/** The auth service of a server with these settings (its own bcrypt line). */
export function authServiceFor(pool: pg.Pool, config: ServerConfig): AuthService {
  const passwords = createPasswordHasher({ cost: config.bcryptCost, concurrency: config.bcryptConcurrency, queueLimit: config.bcryptQueueLimit, nice: config.bcryptNice });
  return createAuthService({ pool, jwt: config.jwt, passwords, throttle: config.throttle, preparedStatements: config.preparedStatements, mail: config.mail });
}


/** The user and tenant of a session, as SQL names them (the tenant's schema included). */
export function sessionView(query: Query, userId: number): Promise<SessionView> {
  return query.value<SessionView>("select app_private.session_user_and_tenant($1)", [userId]);
}

/**
 * app_private.register_tenant: the tenant, its schema, its admin (refusals as INVALID_INPUT or
 * EMAIL_TAKEN), and the admin's verification message queued in the same transaction.
 */
export async function insertTenant(
  query: Query, { name, email, subscription_tier }: { name: string; email: string; subscription_tier?: string | null | undefined }, hash: string,
): Promise<{ tenant_id: number; user_id: number }> {
  const ids = await query.row<{ tenant_id: number; user_id: number }>(
    "select (c).tenant_id, (c).sub as user_id from app_private.register_tenant($1, $2, $3, $4) c",
    [name, email, hash, subscription_tier ?? null],
  ).then((row) => row!, registrationError);
  await query.run("select app_private.queue_account_email('verify_email', $1)", [email]);
  return ids;
}

/** EMAIL_NOT_VERIFIED unless the user's address is verified. */
async function requireVerified(query: Query, userId: number): Promise<void> {
  const view = await sessionView(query, userId);
  if (!view.user.email_verified) throw emailNotVerified();
}

/** The e-mail is the only unique value a registration brings. */
function registrationError(error: Error): never {
  const code = codeOfPgError(error);
  if (code === "DUPLICATE") throw emailTaken();
  if (code === "INVALID_INPUT") throw invalidInput(error.message);
  throw error;
}

function refreshRefused(outcome: string | undefined): ClientError {
  const messages: Record<string, string> = {
    reused: "Refresh token already used; the session is revoked",
    expired: "Refresh token expired",
    inactive: "Account inactive",
  };
  return new ClientError("INVALID_REFRESH_TOKEN", 401, messages[outcome ?? ""] ?? "Invalid refresh token");
}

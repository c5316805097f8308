import type pg from "pg";
import type { JwtConfig, ThrottleConfig } from "../config/auth.ts";
import { statement } from "../db/statements.ts";
import { claimSettings } from "./claim-settings.ts";
import { ClientError, emailNotVerified, tooManyAttempts, wrongCredentials } from "../errors.ts";
import { LoginInput, parseInput, RefreshInput } from "./inputs.ts";
import type { PasswordHasher } from "./passwords.ts";
import { AUTH_PG_ROLE } from "./roles.ts";
import { sessionView, type AuthResponse, type PasswordCheck, type SessionIssuer, type SessionView } from "./session-tokens.ts";
import { hashOpaqueToken, newOpaqueToken, verifyAccessToken, type SessionClaims } from "./tokens.ts";
import { asAuthRole, inTransaction, refusal, type SqlHelpers } from "./transactions.ts";

export interface SessionDependencies {
  pool: pg.Pool;
  jwt: JwtConfig;
  passwords: PasswordHasher;
  throttle: ThrottleConfig;
  /** Run the per-request session check as a named prepared statement (DATABASE_PREPARED_STATEMENTS). */
  preparedStatements: boolean;
  /** Refuse sign-in until the address is verified (LOGIN_REQUIRES_VERIFIED_EMAIL). */
  loginRequiresVerifiedEmail: boolean;
}

/**
 * Sessions: sign-in (bcrypt's line first, then the throttle slot reserved in PostgreSQL by
 * begin_login, then the hash), refresh with rotation, sign-out, the session's view, and the check
 * of an access token on every request.
 */
export function sessionFlows(deps: SessionDependencies, issuer: SessionIssuer) {
  const { pool, jwt, passwords, throttle, preparedStatements } = deps;
  const asAuth = <T>(work: (sql: SqlHelpers) => Promise<T>) => asAuthRole(pool, work);

  return {
    async login(input: Record<string, unknown>, clientIp: string): Promise<AuthResponse> {
      const { email, password } = parseInput(LoginInput, input);
      return passwords.inLine(async (bcrypt) => {
        const check = (await asAuth((query) =>
          query.row<PasswordCheck>("select * from app_private.begin_login($1, $2, $3, $4, $5, $6)", [
            email,
            clientIp,
            throttle.loginFailuresPerEmail,
            throttle.loginAttemptsPerAddress,
            throttle.loginWindowSeconds,
            throttle.loginKnownAddressDays,
          ]),
        ))!;
        if (check.retry_after > 0) throw tooManyAttempts(check.retry_after);
        if (!(await bcrypt.matches(password, check.password_hash))) throw wrongCredentials();
        return asAuth(async (query) => {
          if (deps.loginRequiresVerifiedEmail) await requireVerified(query, check.user_id!);
          const refresh = newOpaqueToken();
          const sessionId = await query.value<string | null>("select app_private.finish_login($1, $2, $3, $4, $5, $6, $7)", [
            check.user_id,
            check.credential_version,
            email,
            clientIp,
            refresh.hash,
            issuer.ttl,
            throttle.loginKnownAddressDays,
          ]);
          if (sessionId === null) throw wrongCredentials(); // inactive, or the password changed while bcrypt ran
          return issuer.tokensFor(query, check.user_id!, sessionId, refresh.token);
        });
      }, clientIp);
    },

    async refresh(input: Record<string, unknown>): Promise<AuthResponse> {
      const { refresh_token: oldToken } = parseInput(RefreshInput, input);
      const next = newOpaqueToken();
      return asAuth(async (query) => {
        const result = await query.row<{ outcome: string; sub: number; session_id: string }>(
          "select * from app_private.rotate_refresh_token($1, $2, $3)",
          [hashOpaqueToken(oldToken), next.hash, issuer.ttl],
        );
        if (result?.outcome !== "ok") throw refreshRefused(result?.outcome);
        return issuer.tokensFor(query, result.sub, result.session_id, next.token);
      });
    },

    async logout(session: SessionClaims): Promise<void> {
      await inTransaction(pool, { role: AUTH_PG_ROLE, ...claimSettings(session) }, (query) =>
        query.run("select app_private.revoke_session($1, 'logout')", [session.sessionId]),
      );
    },

    session(session: SessionClaims): Promise<SessionView> {
      // The transaction opens with the session's check.
      return inTransaction(pool, { role: AUTH_PG_ROLE, ...claimSettings(session) }, (query) => sessionView(query, session.userId));
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
      await pool
        .query({
          ...statement("stoflow_require_live_session", "select app_private.require_live_session($1, $2, $3, $4)", preparedStatements),
          values: [claims.userId, claims.tenantId, claims.role, claims.sessionId],
        })
        .catch(refusal);
      return claims;
    },
  };
}

/** EMAIL_NOT_VERIFIED unless the user's address is verified. */
async function requireVerified(query: SqlHelpers, userId: number): Promise<void> {
  const view = await sessionView(query, userId);
  if (!view.user.email_verified) throw emailNotVerified();
}

function refreshRefused(outcome: string | undefined): ClientError {
  const messages: Record<string, string> = {
    reused: "Refresh token already used; the session is revoked",
    expired: "Refresh token expired",
    inactive: "Account inactive",
  };
  return new ClientError("INVALID_REFRESH_TOKEN", 401, messages[outcome ?? ""] ?? "Invalid refresh token");
}

import type pg from "pg";
import type { JwtConfig } from "../config.ts";
import { AuthError, emailTaken, invalidInput, invalidToken, tooManyAttempts, wrongCredentials } from "./errors.ts";
import { acceptablePassword, hashPassword, passwordMatches } from "./passwords.ts";
import { statement } from "../db/statements.ts";
import { withSettings } from "../db/transaction.ts";
import { pgSettingsFor } from "./pg-settings.ts";
import {
  APP_ROLES, hashRefreshToken, newRefreshToken, signAccessToken, verifyAccessToken, type AppRole, type SessionClaims,
} from "./tokens.ts";

export interface AuthDependencies {
  /** Connections as stoflow_authenticator; every query here runs as role stoflow_auth. */
  pool: pg.Pool;
  jwt: JwtConfig;
  bcryptCost: number;
}

/** The user and tenant of a session, in the seed's JSON shape. */
export interface SessionView {
  user: { id: number; email: string; full_name: string | null; role: string };
  tenant: { id: number; name: string; subscription_tier: string; schema_name: string };
}

export interface AuthResponse extends SessionView {
  access_token: string;
  token_type: "bearer";
  expires_in: number;
  refresh_token: string;
}

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** Sign-up, sign-in and sessions, shared by the REST routes and the GraphQL mutations. */
export function createAuthService({ pool, jwt, bcryptCost }: AuthDependencies) {
  const asAuth = <T>(work: (query: Query) => Promise<T>) => inTransaction(pool, { role: "stoflow_auth" }, work);

  /** Opens a session for verified claims and answers with tokens and the session view. */
  async function issueTokens(query: Query, userId: number): Promise<AuthResponse> {
    const refresh = newRefreshToken();
    const sessionId = await query.value<string>("select app_private.open_session($1, $2, $3)", [
      userId, refresh.hash, `${jwt.refreshTtlSeconds} seconds`,
    ]);
    return tokensFor(query, userId, sessionId, refresh.token);
  }

  async function tokensFor(query: Query, userId: number, sessionId: string, refreshToken: string): Promise<AuthResponse> {
    const view = await query.value<SessionView>("select app_private.session_json($1)", [userId]);
    const claims = { userId, tenantId: view.tenant.id, role: view.user.role as SessionClaims["role"], sessionId };
    return {
      access_token: signAccessToken(jwt, claims),
      token_type: "bearer",
      expires_in: jwt.accessTtlSeconds,
      refresh_token: refreshToken,
      ...view,
    };
  }

  return {
    async register(input: Record<string, unknown>): Promise<AuthResponse> {
      const name = requiredText(input.name, "name", 255);
      const email = validEmail(input.email);
      const password = acceptablePassword(input.password);
      const tier = input.subscription_tier == null ? "starter" : requiredText(input.subscription_tier, "subscription_tier", 50);
      const hash = await hashPassword(password, bcryptCost);
      return asAuth(async (query) => {
        const userId = await query
          .value<number>("select (app_private.register_tenant($1, $2, $3, $4)).sub", [name, email, hash, tier])
          .catch(registrationError);
        return issueTokens(query, userId);
      });
    },

    async login(input: Record<string, unknown>, clientIp: string): Promise<AuthResponse> {
      const email = requiredText(input.email, "email", 255);
      const password = requiredText(input.password, "password", 1024);
      const candidate = await asAuth(async (query) => {
        const wait = await query.value<number>("select app_private.login_retry_after($1, $2)", [email, clientIp]);
        if (wait > 0) throw tooManyAttempts(wait);
        return query.row<{ user_id: number; password_hash: string }>(
          "select * from app_private.login_candidate($1)", [email]);
      });
      const matches = await passwordMatches(password, candidate?.password_hash, bcryptCost);
      return asAuth(async (query) => {
        const userId = matches
          ? await query.value<number | null>("select (app_private.authenticate($1)).sub", [candidate!.user_id])
          : null;
        if (userId === null) {
          await query.run("select app_private.record_login_failure($1, $2)", [email, clientIp]);
          throw wrongCredentials();
        }
        await query.run("select app_private.clear_login_failures($1)", [email]);
        return issueTokens(query, userId);
      });
    },

    async refresh(input: Record<string, unknown>): Promise<AuthResponse> {
      const oldToken = requiredText(input.refresh_token, "refresh_token", 200);
      const next = newRefreshToken();
      return asAuth(async (query) => {
        const result = await query.row<{ outcome: string; sub: number; session_id: string }>(
          "select * from app_private.rotate_refresh_token($1, $2, $3)",
          [hashRefreshToken(oldToken), next.hash, `${jwt.refreshTtlSeconds} seconds`],
        );
        if (result?.outcome !== "ok") throw refreshRefused(result?.outcome);
        return tokensFor(query, result.sub, result.session_id, next.token);
      });
    },

    async logout(session: SessionClaims): Promise<void> {
      await asAuth((query) => query.run("select app_private.revoke_session($1, 'logout')", [session.sessionId]));
    },

    async changePassword(session: SessionClaims, input: Record<string, unknown>): Promise<void> {
      const current = requiredText(input.current_password, "current_password", 1024);
      const next = acceptablePassword(input.new_password, "new_password");
      const view = await this.session(session);
      const candidate = await asAuth((query) =>
        query.row<{ password_hash: string }>("select * from app_private.login_candidate($1)", [view.user.email]));
      if (!(await passwordMatches(current, candidate?.password_hash, bcryptCost))) {
        throw new AuthError("INVALID_CREDENTIALS", 403, "Current password is incorrect");
      }
      const hash = await hashPassword(next, bcryptCost);
      await asAuth((query) => query.run("select app_private.set_password($1, $2, $3)", [session.userId, hash, session.sessionId]));
    },

    /**
     * Adds a user to the admin's tenant. The insert runs with the caller's own role and claims,
     * so grants and row-level security decide who may add whom; only the hashing happens here.
     */
    async addTeamMember(session: SessionClaims, input: Record<string, unknown>): Promise<{ id: number }> {
      const email = validEmail(input.email);
      const role = input.role ?? "user";
      if (typeof role !== "string" || !APP_ROLES.includes(role as AppRole)) throw invalidInput("role must be admin, user or viewer");
      const fullName = input.full_name == null ? null : requiredText(input.full_name, "full_name", 255);
      const hash = await hashPassword(acceptablePassword(input.password), bcryptCost);
      return inTransaction(pool, pgSettingsFor(session), async (query) => {
        const id = await query
          .value<number>("insert into public.users (email, full_name, role) values ($1, $2, $3) returning id", [email, fullName, role])
          .catch(teamError);
        await query.run("select app_private.set_initial_password($1, $2)", [id, hash]);
        return { id };
      });
    },

    session(session: SessionClaims): Promise<SessionView> {
      return asAuth((query) => query.value<SessionView>("select app_private.session_json($1)", [session.userId]));
    },

    /**
     * Verifies an access token, then checks that its session is live and that the user and
     * tenant are still active with the role the token claims: a deactivated user, a revoked
     * session or a changed role is refused from the next request on.
     */
    async authorize(token: string): Promise<SessionClaims> {
      const claims = verifyAccessToken(jwt, token);
      // One prepared statement as the login role itself: no checkout of a transaction.
      const { rows } = await pool.query<{ tenant_id: number; role: string }>(
        { ...statement("stoflow_session_role", "select * from app_private.session_role($1, $2)"), values: [claims.userId, claims.sessionId] },
      );
      const live = rows[0];
      if (!live) throw invalidToken("Session ended or account inactive");
      if (live.tenant_id !== claims.tenantId || live.role !== claims.role) throw invalidToken("Token outdated; refresh it");
      return claims;
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;

/** Thin query helpers over one client, inside one transaction. */
interface Query {
  value<T>(sql: string, params?: unknown[]): Promise<T>;
  row<T>(sql: string, params?: unknown[]): Promise<T | undefined>;
  run(sql: string, params?: unknown[]): Promise<void>;
}


/** A transaction as role stoflow_auth (or a session's role), with thin query helpers. */
function inTransaction<T>(pool: pg.Pool, settings: Record<string, string>, work: (query: Query) => Promise<T>): Promise<T> {
  return withSettings(pool, settings, (client) => work({
    value: async (sql, params) => Object.values((await client.query(sql, params)).rows[0] ?? {})[0] as never,
    row: async (sql, params) => (await client.query(sql, params)).rows[0],
    run: async (sql, params) => void (await client.query(sql, params)),
  }), (error) => error instanceof AuthError); // an AuthError is a decision: what led to it (a failure count, a revoked family) is kept
}

function registrationError(error: { code?: string; message?: string }): never {
  if (error.code === "23505") throw emailTaken();
  if (error.code === "22023") throw invalidInput(error.message ?? "Invalid input");
  throw error;
}

function teamError(error: { code?: string }): never {
  if (error.code === "23505") throw emailTaken();
  if (error.code === "42501") throw new AuthError("FORBIDDEN", 403, "Only a tenant admin adds users");
  throw error;
}

function refreshRefused(outcome: string | undefined): AuthError {
  const messages: Record<string, string> = {
    reused: "Refresh token already used; the session is revoked",
    expired: "Refresh token expired",
    inactive: "Account inactive",
  };
  return new AuthError("INVALID_REFRESH_TOKEN", 401, messages[outcome ?? ""] ?? "Invalid refresh token");
}

function requiredText(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== "string" || value.trim() === "") throw invalidInput(`${field} is required`);
  if (value.length > maxLength) throw invalidInput(`${field} must be at most ${maxLength} characters`);
  // PostgreSQL text cannot hold NUL, and bcrypt would stop reading at it.
  if (value.includes("\u0000")) throw invalidInput(`${field} must not contain NUL characters`);
  return value;
}

function validEmail(value: unknown): string {
  const email = requiredText(value, "email", 255).trim();
  if (!EMAIL.test(email)) throw invalidInput("email is not a valid e-mail address");
  return email;
}

import type { JwtConfig } from "../config/auth.ts";
import type { AppRole } from "./roles.ts";
import { newOpaqueToken, signAccessToken } from "./tokens.ts";
import type { SqlHelpers } from "./transactions.ts";

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

/** What the first step of a password check returns (app_private.begin_login, login_candidate). */
export interface PasswordCheck {
  retry_after: number;
  user_id?: number | null;
  password_hash: string | null;
  credential_version: number | null;
}

/** The user and tenant of a session, as SQL names them (the tenant's schema included). */
export function sessionView(query: SqlHelpers, userId: number): Promise<SessionView> {
  return query.value<SessionView>("select app_private.session_user_and_tenant($1)", [userId]);
}

/** How every flow that signs someone in ends: a session opened in SQL, its tokens signed here. */
export function sessionIssuer(jwt: JwtConfig) {
  const ttl = `${jwt.refreshTtlSeconds} seconds`;

  async function tokensFor(query: SqlHelpers, userId: number, sessionId: string, refreshToken: string): Promise<AuthResponse> {
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

  return {
    /** The refresh token's lifetime, as an SQL interval. */
    ttl,
    tokensFor,
    /** A new session of a user whose password (of this credential version) was just checked or set, and its tokens. */
    async open(query: SqlHelpers, userId: number, credentialVersion: number | null): Promise<AuthResponse> {
      const refresh = newOpaqueToken();
      const sessionId = await query.value<string>("select app_private.open_session($1, $2, $3, $4)", [
        userId,
        credentialVersion,
        refresh.hash,
        ttl,
      ]);
      return tokensFor(query, userId, sessionId, refresh.token);
    },
  };
}

export type SessionIssuer = ReturnType<typeof sessionIssuer>;

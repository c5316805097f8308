import { ANONYMOUS_PG_ROLE, PG_ROLE_OF } from "./roles.ts";
import type { SessionClaims } from "./tokens.ts";

declare global {
  namespace Grafast {
    interface Context {
      /** The verified session of the request; absent for anonymous requests. */
      session?: SessionClaims;
      /** The client address, for login and registration throttling. */
      clientIp: string;
    }
  }
}

/**
 * What PostgreSQL is told for a request, in one set_config statement after BEGIN: the role that
 * matches the verified role claim, the claims policies read, and the tenant's schema first on the
 * search_path (PostGraphile emits unqualified table names). Anonymous requests get `public`
 * alone, so tenant tables do not resolve at all (reported as NO_TENANT_CONTEXT).
 */
export function pgSettingsFor(session: SessionClaims | undefined): Record<string, string> {
  if (!session) return { role: ANONYMOUS_PG_ROLE, search_path: "public" };
  return { role: PG_ROLE_OF[session.role], ...claimSettings(session), search_path: `client_${session.tenantId}, public` };
}

/**
 * The verified claims as transaction settings. With `jwt.claims.session_id` among them, the
 * transaction opens with app_private.require_live_session() (see openingStatement).
 */
export function claimSettings(session: SessionClaims): Record<string, string> {
  return {
    "jwt.claims.user_id": String(session.userId),
    "jwt.claims.tenant_id": String(session.tenantId),
    "jwt.claims.role": session.role,
    "jwt.claims.session_id": session.sessionId,
  };
}

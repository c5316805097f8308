import { SESSION_ID_SETTING, TENANT_ID_SETTING } from "../db/transaction.ts";
import type { SessionClaims } from "./tokens.ts";

/**
 * The verified claims as transaction settings, which policies and SQL functions read. With
 * `jwt.claims.session_id` among them, the transaction's opening checks that session
 * (app_private.open_transaction, see openingStatement).
 */
export function claimSettings(session: SessionClaims): Record<string, string> {
  return {
    "jwt.claims.user_id": String(session.userId),
    [TENANT_ID_SETTING]: String(session.tenantId),
    "jwt.claims.role": session.role,
    [SESSION_ID_SETTING]: session.sessionId,
  };
}

import { claimSettings } from "../auth/claim-settings.ts";
import { ANONYMOUS_PG_ROLE, PG_ROLE_OF } from "../auth/roles.ts";
import type { SessionClaims } from "../auth/tokens.ts";
import { READ_ONLY_SETTING } from "../db/transaction.ts";
import { OperationTypeNode } from "postgraphile/graphql";

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

/** Where grafserv answers GraphQL. */
export const GRAPHQL_PATH = "/graphql";

/**
 * What PostgreSQL is told for a request, right after BEGIN (app_private.open_transaction): the role
 * that matches the verified role claim and the claims policies read. The transaction's opening then
 * puts the tenant's schema first on the search_path (app_private.enter_tenant_schema, see
 * openingStatement; PostGraphile emits unqualified table names). Anonymous requests get `public`
 * alone, so tenant tables do not resolve at all (reported as NO_TENANT_CONTEXT). A session's also
 * get the server's `billing` settings (whether upgrades are immediate, the trial's length:
 * src/config/billing.ts), which changeSubscriptionTier reads.
 */
export function pgSettingsFor(session: SessionClaims | undefined, billing: Record<string, string> = {}): Record<string, string> {
  if (!session) return { role: ANONYMOUS_PG_ROLE, search_path: "public" };
  return { ...billing, role: PG_ROLE_OF[session.role], ...claimSettings(session) };
}

/**
 * The settings of a request running `operation`: a query's transactions are read only
 * (READ_ONLY_SETTING), which PostgreSQL enforces, whatever function a query field calls; so their
 * `COMMIT` cannot fail and is written with the connection's next query (src/db/patches/transaction-opening.ts).
 */
export function pgSettingsOf(operation: OperationTypeNode | undefined, settings: Record<string, string>): Record<string, string> {
  return operation === OperationTypeNode.QUERY ? { ...settings, [READ_ONLY_SETTING]: "on" } : settings;
}

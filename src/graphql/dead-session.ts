import type { ExecutionResult } from "postgraphile/graphql";
import { GraphQLError } from "postgraphile/graphql";
import { ClientError, invalidToken, tenantMaintenance } from "../auth/errors.ts";
import { codeOfPgError } from "../db/error-codes.ts";
import { answerWith } from "./answer-status.ts";

/**
 * What refuses a whole request when its transaction opens (app_private.require_live_session): a
 * dead session (SFSES, or the auth service's INVALID_TOKEN), or a tenant whose schema lags behind
 * the template (SFMNT, TENANT_MAINTENANCE). The refusal as a ClientError, or undefined.
 */
function sessionRefusal(error: GraphQLError): ClientError | undefined {
  const original = error.originalError as (Error & { code?: string }) | undefined;
  if (original instanceof ClientError) return original.code === "INVALID_TOKEN" || original.code === "TENANT_MAINTENANCE" ? original : undefined;
  const code = codeOfPgError(original);
  if (code === "INVALID_TOKEN") return invalidToken(original!.message);
  return code === "TENANT_MAINTENANCE" ? tenantMaintenance() : undefined;
}

/**
 * The session of a GraphQL request is checked as each of its transactions opens (one round trip,
 * app_private.require_live_session), not before execution. A request whose session turns out dead
 * is answered as a refused token is everywhere: HTTP 401, one error with code INVALID_TOKEN, and no
 * data at all, not even the fields that did not touch the database. A tenant under maintenance
 * the same way: HTTP 503, Retry-After, TENANT_MAINTENANCE.
 */
export const DeadSessionPlugin: GraphileConfig.Plugin = {
  name: "StoflowDeadSessionPlugin",
  version: "1.0.0",
  grafast: {
    middleware: {
      async execute(next, event) {
        const result = await next();
        for (const error of (result as ExecutionResult).errors ?? []) {
          const refusal = sessionRefusal(error);
          if (!refusal) continue;
          answerWith(event.args, { status: refusal.status, retryAfterSeconds: refusal.retryAfterSeconds });
          return { errors: [new GraphQLError(refusal.message, { originalError: refusal })] };
        }
        return result;
      },
    },
  },
};

import type { ExecutionResult } from "postgraphile/graphql";
import { GraphQLError } from "postgraphile/graphql";
import { AuthError } from "../auth/errors.ts";
import { isDeadSession } from "../db/transaction.ts";
import { answerWith } from "./answer-status.ts";

/** A field that met a dead session: SFSES from a transaction's opening, or the auth service's INVALID_TOKEN. */
function deadSession(error: GraphQLError): boolean {
  const original = error.originalError;
  return isDeadSession(original) || (original instanceof AuthError && original.code === "INVALID_TOKEN");
}

/**
 * The session of a GraphQL request is checked as each of its transactions opens (one round trip,
 * app_private.require_live_session), not before execution. A request whose session turns out dead
 * is answered as a refused token is everywhere: HTTP 401, one error with code INVALID_TOKEN
 * (maskError gives it), and no data at all, not even the fields that did not touch the database.
 */
export const DeadSessionPlugin: GraphileConfig.Plugin = {
  name: "StoflowDeadSessionPlugin",
  version: "1.0.0",
  grafast: {
    middleware: {
      async execute(next, event) {
        const result = await next();
        const dead = (result as ExecutionResult).errors?.find(deadSession);
        if (!dead) return result;
        answerWith(event.args, { status: 401 });
        return { errors: [new GraphQLError(dead.message, { originalError: dead.originalError })] };
      },
    },
  },
};

import type { ExecutionResult } from "postgraphile/graphql";
import { ClientError } from "../auth/errors.ts";
import { answerWith } from "./answer-status.ts";

/** A refusal of the moment (BUSY, TOO_MANY_ATTEMPTS…: a ClientError that says when to retry) among the errors, or undefined. */
function momentaryRefusal(result: ExecutionResult): ClientError | undefined {
  for (const error of result.errors ?? []) {
    const original = error.originalError;
    if (original instanceof ClientError && original.retryAfterSeconds) return original;
  }
  return undefined;
}

/**
 * A GraphQL request refused for the moment (bcrypt's line is full: BUSY; too many attempts:
 * TOO_MANY_ATTEMPTS) is answered with the HTTP status and Retry-After its REST twin gets (503,
 * 429), not 200: clients, proxies and load balancers back off on the status. The body is
 * unchanged (the error, with `extensions.code` and `retryAfter`).
 */
export const RefusalStatusPlugin: GraphileConfig.Plugin = {
  name: "StoflowRefusalStatusPlugin",
  version: "1.0.0",
  grafast: {
    middleware: {
      async execute(next, event) {
        const result = await next();
        const refusal = momentaryRefusal(result as ExecutionResult);
        if (refusal) answerWith(event.args, { status: refusal.status, retryAfterSeconds: refusal.retryAfterSeconds });
        return result;
      },
    },
  },
};

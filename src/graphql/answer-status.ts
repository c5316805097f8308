import type { IncomingMessage } from "node:http";
import type { GrafastExecutionArgs } from "postgraphile/grafast";
import type {} from "postgraphile/grafserv/node";

/** HTTP statuses decided while a GraphQL request executed, applied when grafserv answers. */
const decided = new WeakMap<IncomingMessage, { status: number; retryAfterSeconds: number }>();

/**
 * Makes the answer to this GraphQL request carry `status` and Retry-After: grafserv answers 200
 * or 400 from the shape of the result alone, but "busy" or "unavailable" must reach clients (and
 * load balancers) as 503, as on every other path.
 */
export function answerWith(args: GrafastExecutionArgs, status: number, retryAfterSeconds: number): void {
  const request = args.requestContext?.node?.req;
  if (request) decided.set(request, { status, retryAfterSeconds });
}

export const AnswerStatusPlugin: GraphileConfig.Plugin = {
  name: "StoflowAnswerStatusPlugin",
  version: "1.0.0",
  description: "The HTTP status decided during execution (503 and Retry-After) on GraphQL answers",
  grafserv: {
    middleware: {
      async processRequest(next, event) {
        const result = await next();
        const request = event.requestDigest.requestContext.node?.req;
        const status = request && decided.get(request);
        if (result && status) {
          result.statusCode = status.status;
          result.headers["retry-after"] = String(status.retryAfterSeconds);
        }
        return result;
      },
    },
  },
};

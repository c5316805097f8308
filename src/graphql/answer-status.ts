import type { IncomingMessage } from "node:http";
import type { GrafastExecutionArgs } from "postgraphile/grafast";
import type {} from "postgraphile/grafserv/node";

/** What execution decided about the HTTP answer: its status and Retry-After, or its whole body. */
export interface AnswerOverride {
  status?: number;
  retryAfterSeconds?: number;
  /** The complete JSON answer, already encoded (a cached introspection answer). */
  body?: Buffer;
}

const decided = new WeakMap<IncomingMessage, AnswerOverride>();

/**
 * Makes the HTTP answer to this GraphQL request carry `override`: grafserv answers 200 or 400 from
 * the shape of the result alone, but "busy" or "unavailable" must reach clients (and load
 * balancers) as 503 with Retry-After, as on every other path. Returns false when the execution
 * has no HTTP request to answer (then nothing is overridden).
 */
export function answerWith(args: GrafastExecutionArgs, override: AnswerOverride): boolean {
  return answerRequestWith(args.requestContext?.node?.req, override);
}

/** The same, before execution: for the request itself (false when it did not come through Node's HTTP). */
export function answerRequestWith(request: IncomingMessage | undefined, override: AnswerOverride): boolean {
  if (request) decided.set(request, override);
  return request !== undefined;
}

export const AnswerStatusPlugin: GraphileConfig.Plugin = {
  name: "StoflowAnswerStatusPlugin",
  version: "1.0.0",
  description: "What execution decided about the HTTP answer (503 and Retry-After, or a body encoded once)",
  grafserv: {
    middleware: {
      async processRequest(next, event) {
        const result = await next();
        const request = event.requestDigest.requestContext.node?.req;
        const override = request && decided.get(request);
        if (!result || !override) return result;
        if (override.status) result.statusCode = override.status;
        if (override.retryAfterSeconds) result.headers["retry-after"] = String(override.retryAfterSeconds);
        if (override.body && result.type === "buffer") {
          result.buffer = override.body;
          result.headers["content-length"] = String(override.body.length);
        }
        return result;
      },
    },
  },
};

import type { ExecutionResult } from "postgraphile/graphql";
import { ClientError } from "../auth/errors.ts";
import { codeOfPgError } from "../db/error-codes.ts";
import { answerWith, type AnswerOverride } from "./answer-status.ts";

/**
 * Refusals raised by SQL that carry an HTTP status of their own: an export too large (413
 * EXPORT_TOO_LARGE, public.export_tenant_data) and a sensitive change outside sudo mode (403
 * REAUTHENTICATION_REQUIRED, app_private.require_reauthentication, raised by SQL or by an auth flow).
 */
const STATUS_OF_CODE: Readonly<Record<string, number>> = { EXPORT_TOO_LARGE: 413, REAUTHENTICATION_REQUIRED: 403 };

/** The HTTP answer one error of a GraphQL result asks for, or undefined. */
function statusOf(error: unknown): AnswerOverride | undefined {
  // A refusal of the moment (BUSY, TOO_MANY_ATTEMPTS…): a ClientError that says when to retry.
  if (error instanceof ClientError && error.retryAfterSeconds) return { status: error.status, retryAfterSeconds: error.retryAfterSeconds };
  const status = STATUS_OF_CODE[(error instanceof ClientError ? error.code : codeOfPgError(error)) ?? ""];
  return status ? { status } : undefined;
}

/**
 * A GraphQL request refused is answered with the HTTP status (and Retry-After) its REST twin gets,
 * not 200: bcrypt's line full (503 BUSY), too many attempts (429 TOO_MANY_ATTEMPTS), an export too
 * large (413), a sensitive change outside sudo mode (403). Clients, proxies and load balancers back
 * off on the status; the body is unchanged (the error, with `extensions.code`). A request's
 * mutations commit together, so a refused one means nothing of the request was kept.
 */
export const RefusalStatusPlugin: GraphileConfig.Plugin = {
  name: "StoflowRefusalStatusPlugin",
  version: "1.0.0",
  description: "REST's HTTP status for GraphQL refusals: BUSY, TOO_MANY_ATTEMPTS, EXPORT_TOO_LARGE, REAUTHENTICATION_REQUIRED",
  grafast: {
    middleware: {
      async execute(next, event) {
        const result = await next();
        const answer = ((result as ExecutionResult).errors ?? []).map((error) => statusOf(error.originalError)).find(Boolean);
        if (answer) answerWith(event.args, answer);
        return result;
      },
    },
  },
};

import type { ExecutionResult } from "postgraphile/graphql";
import { ClientError } from "../auth/errors.ts";
import { codeOfPgError } from "../db/error-codes.ts";
import { answerWith } from "./answer-status.ts";

/**
 * The refusals that a GraphQL answer carries with an HTTP status of their own, as REST answers
 * them: an export too large (413 EXPORT_TOO_LARGE, public.export_tenant_data) and a sensitive
 * change outside sudo mode (403 REAUTHENTICATION_REQUIRED, app_private.require_reauthentication,
 * raised by SQL or by an auth flow). A request's mutations commit together, so a refused one means
 * nothing of the request was kept.
 */
const STATUS_OF_CODE: Readonly<Record<string, number>> = { EXPORT_TOO_LARGE: 413, REAUTHENTICATION_REQUIRED: 403 };

const codeOf = (error: unknown) => (error instanceof ClientError ? error.code : codeOfPgError(error));

export const RefusalStatusPlugin: GraphileConfig.Plugin = {
  name: "StoflowRefusalStatusPlugin",
  version: "1.0.0",
  description: "HTTP 413 for EXPORT_TOO_LARGE and 403 for REAUTHENTICATION_REQUIRED on /graphql",
  grafast: {
    middleware: {
      async execute(next, event) {
        const result = await next();
        const status = ((result as ExecutionResult).errors ?? [])
          .map((error) => STATUS_OF_CODE[codeOf(error.originalError) ?? ""])
          .find((found) => found !== undefined);
        if (status) answerWith(event.args, { status });
        return result;
      },
    },
  },
};

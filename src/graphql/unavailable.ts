import type { ExecutionResult } from "postgraphile/graphql";
import { GraphQLError } from "postgraphile/graphql";
import { isDatabaseUnavailable, UNAVAILABLE } from "../db/unavailable.ts";
import { answerWith } from "./answer-status.ts";

const unavailable = (error: GraphQLError | undefined) => isDatabaseUnavailable(error?.originalError);

/**
 * A GraphQL request that meets a database that cannot serve is answered as every other path is:
 * HTTP 503 with Retry-After, and `errors[0].extensions.code` UNAVAILABLE (maskError gives the
 * code). Grafast reports a failed field in `errors` with its cause; an error thrown by execution
 * itself would reach grafserv, which keeps only its message: it is turned into an error of the
 * result here, with its cause, so that maskError recognises it too. The status is set by
 * AnswerStatusPlugin.
 */
export const DatabaseUnavailablePlugin: GraphileConfig.Plugin = {
  name: "StoflowDatabaseUnavailablePlugin",
  version: "1.0.0",
  grafast: {
    middleware: {
      async execute(next, event) {
        let result: Awaited<ReturnType<typeof next>>;
        try {
          result = await next();
        } catch (error) {
          if (!isDatabaseUnavailable(error)) throw error;
          result = { errors: [new GraphQLError((error as Error).message, { originalError: error as Error })] };
        }
        const errors = (result as ExecutionResult).errors;
        if (!errors?.some(unavailable)) return result;
        answerWith(event.args, { status: UNAVAILABLE.status, retryAfterSeconds: UNAVAILABLE.retryAfterSeconds });
        // The cause first, so that errors[0] says why the whole answer is a 503.
        return { ...result, errors: [...errors.filter(unavailable), ...errors.filter((error) => !unavailable(error))] };
      },
    },
  },
};

import type { ExecutionResult } from "postgraphile/graphql";
import { ConstraintMessages } from "../db/constraint-messages.ts";

/**
 * After a request ran and before its errors are masked (src/graphql/errors.ts, synchronous), reads
 * the message of each constraint that refused a write, from the database as it is now: a message a
 * migration just added applies to the next refusal, with no restart.
 */
export function constraintMessagesPlugin(messages: ConstraintMessages): GraphileConfig.Plugin {
  return {
    name: "StoflowConstraintMessagesPlugin",
    version: "1.0.0",
    description: "Reads the client's message of each constraint violation, per refusal, before errors are masked",
    grafast: {
      middleware: {
        async execute(next) {
          const result = await next();
          const violations = (result as ExecutionResult).errors?.map((error) => error.originalError).filter(ConstraintMessages.refuses);
          if (violations?.length) await messages.lookUp(violations);
          return result;
        },
      },
    },
  };
}

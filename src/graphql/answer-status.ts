import type { GrafastExecutionArgs } from "postgraphile/grafast";
import { GraphQLError, type ExecutionResult } from "postgraphile/graphql";
import { classify, type Classified } from "../errors.ts";
import { isDatabaseUnavailable } from "../db/unavailable.ts";
import { contextOf, type RequestContext } from "../http/request-context.ts";

/**
 * The errors that decide the HTTP status of a GraphQL answer, by stable code, with what else they
 * do to it; any other error leaves grafserv's status (200, or 400 for a result without data).
 * - `alone`: the answer is that error and nothing else, not even the fields that did not touch the
 *   database: a dead session (checked as each transaction opens, app_private.require_live_session)
 *   is answered as a refused token is everywhere, and a tenant under maintenance the same way;
 * - `first`: the error is moved first, so that errors[0] says why the whole answer is a 503;
 * - `status`: the status and Retry-After only; the body is unchanged.
 * Rows are in order of precedence (an `alone` row beats a `first` row beats a `status` row; among
 * equals, the first error of the result). The status and Retry-After are `classify`'s
 * (src/errors.ts): what the REST twin of the request is answered.
 */
const ANSWER_OF_CODE = {
  INVALID_TOKEN: "alone", // 401
  TENANT_MAINTENANCE: "alone", // 503, Retry-After 60
  UNAVAILABLE: "first", // 503, Retry-After 5: the database cannot serve
  BUSY: "status", // 503, Retry-After 1: bcrypt's line, the new documents' line, the export line
  TOO_MANY_ATTEMPTS: "status", // 429, Retry-After
  EXPORT_TOO_LARGE: "status", // 413
  REAUTHENTICATION_REQUIRED: "status", // 403: a sensitive change outside sudo mode
} as const satisfies Record<string, "alone" | "first" | "status">;
const PRECEDENCE = ["alone", "first", "status"] as const;

/** What execution decided about the HTTP answer: its status and Retry-After, or its whole body. */
export interface AnswerOverride {
  status?: number;
  retryAfterSeconds?: number | undefined;
  /** The complete JSON answer, already encoded (a cached introspection answer). */
  body?: Buffer;
}

/** Makes the HTTP answer to this request carry `override`. False when it did not come through the server's pipeline (nothing is overridden). */
export function answerRequestWith(request: RequestContext | undefined, override: AnswerOverride): boolean {
  if (request) request.answer = { ...request.answer, ...override };
  return request !== undefined;
}

/** The same, from within an execution. */
export const answerWith = (args: GrafastExecutionArgs, override: AnswerOverride) =>
  answerRequestWith(contextOf(args.requestContext), override);

/** The status and Retry-After a refusal is answered with (a request refused before execution: the new documents' line full). */
export const refuseRequest = (request: RequestContext | undefined, { status, retryAfterSeconds }: Classified) =>
  answerRequestWith(request, { status, retryAfterSeconds });

interface Ruling {
  error: GraphQLError;
  answer: Classified;
  how: (typeof PRECEDENCE)[number];
}

/** The error of `errors` that decides the answer's status (ANSWER_OF_CODE), or undefined. */
function rulingOf(errors: readonly GraphQLError[]): Ruling | undefined {
  let ruling: Ruling | undefined;
  for (const error of errors) {
    const answer = classify(error.originalError);
    const how = answer && (ANSWER_OF_CODE as Record<string, Ruling["how"]>)[answer.code];
    if (how && (!ruling || PRECEDENCE.indexOf(how) < PRECEDENCE.indexOf(ruling.how))) ruling = { error, answer: answer, how };
  }
  return ruling;
}

/** The result as the ruling shapes it (see ANSWER_OF_CODE). */
function shaped(result: ExecutionResult, { error, answer, how }: Ruling): ExecutionResult {
  if (how === "alone") return { errors: [new GraphQLError(answer.message, { originalError: error.originalError })] };
  if (how === "first") return { ...result, errors: [error, ...result.errors!.filter((other) => other !== error)] };
  return result;
}

/**
 * An error thrown by execution itself reaches grafserv, which keeps only its message: a database
 * that cannot serve is turned into an error of the result here, with its cause, so that it is
 * ruled on (and masked) as the errors of fields are.
 */
async function executed(next: () => unknown): Promise<ExecutionResult> {
  try {
    return (await next()) as ExecutionResult;
  } catch (error) {
    if (!isDatabaseUnavailable(error)) throw error;
    return { errors: [new GraphQLError((error as Error).message, { originalError: error as Error })] };
  }
}

/**
 * The one place that decides the HTTP status of a /graphql answer after grafserv: a GraphQL request
 * refused is answered with the status (and Retry-After) its REST twin gets, not 200 (clients,
 * proxies and load balancers back off on the status), by the table above. Its grafast part rules
 * on the result's errors; its grafserv part applies what was decided (also a body encoded once, a
 * cached introspection answer, and a refusal before execution) to the answer grafserv built. A
 * request's mutations commit together, so a refused one means nothing of the request was kept.
 */
export const AnswerStatusPlugin: GraphileConfig.Plugin = {
  name: "StoflowAnswerStatusPlugin",
  version: "2.0.0",
  description: "The HTTP status and Retry-After of a GraphQL answer, from its errors' codes (401, 403, 413, 429, 503)",
  grafast: {
    middleware: {
      async execute(next, event) {
        const result = await executed(next);
        const ruling = result.errors && rulingOf(result.errors);
        if (!ruling) return result;
        answerWith(event.args, { status: ruling.answer.status, retryAfterSeconds: ruling.answer.retryAfterSeconds });
        return shaped(result, ruling);
      },
    },
  },
  grafserv: {
    middleware: {
      async processRequest(next, event) {
        const result = await next();
        const override = contextOf(event.requestDigest.requestContext)?.answer;
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

import type { Result } from "postgraphile/grafserv";

/** The code of a refusal grafserv makes itself (malformed body, wrong method or media type…), by HTTP status. */
const CODE_OF_STATUS: Record<number, string> = {
  400: "BAD_REQUEST",
  405: "METHOD_NOT_ALLOWED",
  406: "NOT_ACCEPTABLE",
  413: "BAD_REQUEST", // body too large, as on the REST routes
  415: "UNSUPPORTED_MEDIA_TYPE",
};

interface ErrorPayload {
  errors?: Array<{ extensions?: Record<string, unknown> }>;
}

/** Gives every error of a refused request a stable `extensions.code` (grafserv's own carry none, or `statusCode`). */
function withCodes(payload: ErrorPayload, status: number): boolean {
  const uncoded = payload.errors?.filter((error) => typeof error.extensions?.code !== "string") ?? [];
  for (const error of uncoded) {
    const { statusCode: _status, ...extensions } = error.extensions ?? {};
    error.extensions = { ...extensions, code: CODE_OF_STATUS[status] ?? (status < 500 ? "BAD_REQUEST" : "INTERNAL") };
  }
  return uncoded.length > 0;
}

/** A refusal's answer with its codes: only answers of status 400 and above are read, and they are small. */
function coded(result: Result): Result {
  if (result.statusCode < 400) return result;
  if (result.type === "json") {
    withCodes(result.json as ErrorPayload, result.statusCode);
  } else if (result.type === "buffer" && /json/.test(result.headers["content-type"] ?? "")) {
    const payload = JSON.parse(result.buffer.toString("utf8")) as ErrorPayload;
    if (withCodes(payload, result.statusCode)) {
      result.buffer = Buffer.from(JSON.stringify(payload), "utf8");
      result.headers["content-length"] = String(result.buffer.length);
    }
  }
  return result;
}

/**
 * Every refusal on /graphql carries `errors[].extensions.code`, as the refusals of the server's own
 * checks do, so a client reads one shape whatever refused its request; the HTTP status is kept.
 */
export const ErrorCodesPlugin: GraphileConfig.Plugin = {
  name: "StoflowErrorCodesPlugin",
  version: "1.0.0",
  description: "A stable extensions.code on grafserv's own refusals (400, 405, 406, 413, 415)",
  grafserv: {
    middleware: {
      async processRequest(next) {
        const result = await next();
        return result ? coded(result) : result;
      },
    },
  },
};

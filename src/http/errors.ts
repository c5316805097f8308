import type { IncomingMessage, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { classify, ClientError, type Classified } from "../errors.ts";
import { isDatabaseUnavailable } from "../db/unavailable.ts";
import { GRAPHQL_PATH } from "../graphql/context.ts";
import { pathOf } from "./request-context.ts";

/** What a failed request is answered: status, stable code, message, when to retry, and the id a masked error was logged with. */
export type Answer = Classified & { id?: string };

/**
 * Last middleware: an error `classify` knows (a ClientError, a bad JSON body, a database that is
 * down…) becomes its status, code and Retry-After; anything else a 500 with an id, logged here,
 * never a stack trace. REST routes get `{ detail, code }` (the seed's `detail`); /graphql gets GraphQL's shape,
 * `{ errors: [{ message, extensions: { code } }] }`, with the same HTTP status. `authFailure`
 * counts the 401 and 429 refusals (metrics.ts).
 */
export function errorResponder(authFailure: (code: string) => void) {
  return (error: unknown, req: IncomingMessage, res: ServerResponse, _next: unknown) => {
    if (error instanceof ClientError && (error.status === 401 || error.status === 429)) authFailure(error.code);
    sendError(req, res, answerFor(error, req));
  };
}

/** /graphql, also with a trailing slash (which the auth and size checks in front of it match too). */
const GRAPHQL_ROUTE = new RegExp(`^${GRAPHQL_PATH}/?$`);

/** Answers a refusal in the shape of its path: GraphQL's on /graphql, `{ detail, code }` elsewhere. */
export function sendError(req: IncomingMessage, res: ServerResponse, { status, code, message, retryAfterSeconds, id }: Answer): void {
  if (status === 401) res.setHeader("WWW-Authenticate", "Bearer");
  if (retryAfterSeconds) res.setHeader("Retry-After", String(retryAfterSeconds));
  sendJson(
    res,
    status,
    GRAPHQL_ROUTE.test(pathOf(req.url))
      ? { errors: [{ message, extensions: { code, ...(id ? { id } : {}) } }] }
      : { detail: message, code, ...(id ? { id } : {}) },
  );
}

/** A JSON answer with Node's own response methods (the /graphql steps run without Express's). */
function sendJson(res: ServerResponse, status: number, body: object): void {
  const json = Buffer.from(JSON.stringify(body));
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Content-Length", json.length);
  res.end(json);
}

/** The answer to a path no route serves. */
export function notFound(req: IncomingMessage, res: ServerResponse): void {
  if (req.context) req.context.unknownPath = true;
  sendJson(res, 404, { detail: "Not found", code: "NOT_FOUND" });
}

/** The answer `classify` gives (src/errors.ts), or a 500 with an id, logged here. */
function answerFor(error: unknown, req: IncomingMessage): Answer {
  const known = classify(error);
  if (known && isDatabaseUnavailable(error)) req.log.warn({ err: error }, "database unavailable");
  if (known) return known;
  const id = randomUUID();
  req.log.error({ err: error, errorId: id }, "request failed");
  return { status: 500, code: "INTERNAL", message: "Internal server error", id };
}

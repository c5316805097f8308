import type { NextFunction, Request, Response } from "express";
import { randomUUID } from "node:crypto";
import { ClientError } from "../auth/errors.ts";
import { isDatabaseUnavailable, UNAVAILABLE } from "../db/unavailable.ts";
import { GRAPHQL_PATH } from "../graphql/context.ts";
import type { Metrics } from "./metrics.ts";

/** What a failed request is answered: status, stable code, message, and when to retry. */
export interface Answer {
  status: number;
  code: string;
  message: string;
  retryAfterSeconds?: number | undefined;
  /** The id a masked error was logged with. */
  id?: string;
}

/**
 * Last middleware: a ClientError becomes its status and code; a bad JSON body a 400; a database
 * that is down a 503 with Retry-After; anything else a 500 with an id, logged here, never a stack
 * trace. REST routes get `{ detail, code }` (the seed's `detail`); /graphql gets GraphQL's shape,
 * `{ errors: [{ message, extensions: { code } }] }`, with the same HTTP status.
 */
export function errorResponder(metrics: Metrics) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof ClientError && (error.status === 401 || error.status === 429)) metrics.authFailures.inc({ code: error.code });
    sendError(req, res, answerFor(error, req));
  };
}

/** /graphql, also with a trailing slash (which the auth and size checks in front of it match too). */
const GRAPHQL_ROUTE = new RegExp(`^${GRAPHQL_PATH}/?$`);

/** Answers a refusal in the shape of its path: GraphQL's on /graphql, `{ detail, code }` elsewhere. */
export function sendError(req: Request, res: Response, { status, code, message, retryAfterSeconds, id }: Answer): void {
  if (status === 401) res.setHeader("WWW-Authenticate", "Bearer");
  if (retryAfterSeconds) res.setHeader("Retry-After", String(retryAfterSeconds));
  sendJson(res, status, GRAPHQL_ROUTE.test(req.path)
    ? { errors: [{ message, extensions: { code, ...(id ? { id } : {}) } }] }
    : { detail: message, code, ...(id ? { id } : {}) });
}

/** A JSON answer with Node's own response methods (the /graphql route runs without Express's). */
function sendJson(res: Response, status: number, body: object): void {
  const json = Buffer.from(JSON.stringify(body));
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Content-Length", json.length);
  res.end(json);
}

/** The answer to a path no route serves. */
export function notFound(_req: Request, res: Response): void {
  sendJson(res, 404, { detail: "Not found", code: "NOT_FOUND" });
}

function answerFor(error: unknown, req: Request): Answer {
  if (error instanceof ClientError) {
    return { status: error.status, code: error.code, message: error.message, retryAfterSeconds: error.retryAfterSeconds };
  }
  const status = (error as { status?: number }).status;
  // body-parser's refusal of a charset or content encoding it cannot read (application/json;charset=latin1).
  if (status === 415) return { status, code: "UNSUPPORTED_MEDIA_TYPE", message: "Send the body as JSON in UTF-8 (Content-Type: application/json)" };
  if (status && status >= 400 && status < 500) {
    const message = (error as { type?: string }).type === "entity.too.large" ? "Request body too large" : "Malformed request body";
    return { status, code: "BAD_REQUEST", message };
  }
  if (isDatabaseUnavailable(error)) {
    req.log.warn({ err: error }, "database unavailable");
    return UNAVAILABLE;
  }
  const id = randomUUID();
  req.log.error({ err: error, errorId: id }, "request failed");
  return { status: 500, code: "INTERNAL", message: "Internal server error", id };
}

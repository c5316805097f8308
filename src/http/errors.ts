import type { NextFunction, Request, Response } from "express";
import { randomUUID } from "node:crypto";
import { AuthError } from "../auth/errors.ts";
import { isDatabaseUnavailable } from "../db/unavailable.ts";
import type { Metrics } from "./metrics.ts";

/**
 * Last middleware: an AuthError becomes its status and `{ detail, code }` (the seed's `detail`);
 * a bad JSON body a 400; a database that is down a 503; anything else a 500 with an id, logged here, never a stack trace.
 */
export function errorResponder(metrics: Metrics) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof AuthError && (error.status === 401 || error.status === 429)) metrics.authFailures.inc({ code: error.code });
    return respond(error, req, res);
  };
}

function respond(error: unknown, req: Request, res: Response) {
  if (error instanceof AuthError) {
    if (error.status === 401) res.setHeader("WWW-Authenticate", "Bearer");
    if (error.retryAfterSeconds) res.setHeader("Retry-After", String(error.retryAfterSeconds));
    return res.status(error.status).json({ detail: error.message, code: error.code });
  }
  const status = (error as { status?: number; type?: string }).status;
  if (status && status >= 400 && status < 500) {
    const detail = (error as { type?: string }).type === "entity.too.large" ? "Request body too large" : "Malformed request body";
    return res.status(status).json({ detail, code: "BAD_REQUEST" });
  }
  if (isDatabaseUnavailable(error)) {
    return res.status(503).json({ detail: "Database unavailable", code: "UNAVAILABLE" });
  }
  const id = randomUUID();
  req.log.error({ err: error, errorId: id }, "request failed");
  return res.status(500).json({ detail: "Internal server error", code: "INTERNAL", id });
}

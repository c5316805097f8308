import type { Request, Response } from "express";
import { randomUUID } from "node:crypto";
import type { DestinationStream, Logger } from "pino";
import { pino } from "pino";
import { pinoHttp } from "pino-http";

/** Never logged: credentials in headers and bodies. */
const REDACT = [
  "req.headers.authorization", "req.headers.cookie", "res.headers[\"set-cookie\"]",
  "*.password", "*.new_password", "*.current_password", "*.access_token", "*.refresh_token", "*.password_hash",
];

/** JSON lines on stdout (or `destination`), level from LOG_LEVEL (info by default). */
export function createLogger(destination?: DestinationStream, level = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({ level, redact: { paths: REDACT, censor: "[redacted]" }, base: { service: "stoflow-api" } }, destination);
}

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * One line per request, with a request id on it and on every line logged while serving it: the
 * client's X-Request-Id when it is a plain token, else a new UUID; sent back in X-Request-Id.
 */
export function requestLogging(logger: Logger) {
  return pinoHttp({
    logger,
    genReqId(req: Request, res: Response) {
      const given = req.headers["x-request-id"];
      const id = typeof given === "string" && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
      res.setHeader("X-Request-Id", id);
      return id;
    },
    serializers: {
      req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url.split("?")[0] }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? "error" : res.statusCode >= 400 ? "warn" : "info"),
  });
}

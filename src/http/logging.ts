import { IncomingMessage, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";

const CLIENT_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * One line per request, with a request id on it and on every line logged while serving it: the
 * client's X-Request-Id when it is a plain token, else a new UUID; sent back in X-Request-Id.
 * The same fields pino-http wrote (req.id/method/url, res.statusCode, responseTime), without its
 * per-request serializer work: `req.log`, a child logger, is only built when something logs
 * (the accessor below).
 * That line holds no credential, so it is written by a child logger without the root's
 * redaction, which would cost more than the rest of the line (7 of 10 µs).
 */
export function requestLogging(logger: Logger) {
  const lines = logger.child({}, { redact: [] });
  const refused = summary(lines, "requests refused under load", "refused");
  const unknownPaths = summary(lines, "requests for paths that do not exist", "notFound");
  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    const started = performance.now();
    const url = req.context.path; // before any router rewrites it
    const given = req.headers["x-request-id"];
    const id = typeof given === "string" && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader("X-Request-Id", id);
    req.context.requestId = id;
    req.context.logger = logger;
    res.on("finish", () => {
      const status = res.statusCode;
      if (status === 429 || status === 503) return refused(status);
      if (status === 404 && req.context?.unknownPath) return unknownPaths(status);
      const level = status >= 500 ? "error" : status >= 400 ? "warn" : "info";
      if (!lines.isLevelEnabled(level)) return;
      lines[level](
        { req: { id, method: req.method, url }, res: { statusCode: status }, responseTime: Math.round(performance.now() - started) },
        "request completed",
      );
    });
    next();
  };
}

/** A request's logger, once built (or given: the probe thread's requests share its own). */
const LOG = Symbol("request logger");
type LoggedRequest = IncomingMessage & { [LOG]?: Logger };

/**
 * `req.log`, defined once, on the prototype: the child of the context's logger with the request's
 * id, built the first time something logs. An accessor defined on each request (a new getter each
 * time) made every request from the second on a slow, dictionary-mode object (V8's
 * %HasFastProperties false) for every later step that reads it.
 */
Object.defineProperty(IncomingMessage.prototype, "log", {
  configurable: true,
  get(this: LoggedRequest) {
    return (this[LOG] ??= this.context?.logger?.child({ req: { id: this.context.requestId } }));
  },
  set(this: LoggedRequest, logger: Logger) {
    this[LOG] = logger;
  },
});

/** How long answers written as a summary are counted before their line is written. */
const SUMMARY_WINDOW_MS = 10_000;

/**
 * 429 and 503 answers are what a flood is answered, and 404s of paths that do not exist what a
 * crowd of scanners or pipelined junk gets; a line each would be the flood again, in the log
 * (about 2 MB/s from one client). They are counted, and one warning per window says how many of
 * each status were answered, under `field` (the metrics count them too, by route).
 */
function summary(lines: Logger, message: string, field: string): (status: number) => void {
  let counts: Record<number, number> | undefined;
  return (status) => {
    if (!counts) {
      counts = {};
      setTimeout(() => {
        lines.warn({ [field]: counts, seconds: SUMMARY_WINDOW_MS / 1000 }, message);
        counts = undefined;
      }, SUMMARY_WINDOW_MS).unref();
    }
    counts[status] = (counts[status] ?? 0) + 1;
  };
}

declare module "http" {
  interface IncomingMessage {
    /** The request's logger: every line it writes carries the request id. */
    log: Logger;
  }
}

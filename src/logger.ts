import type { DestinationStream, Logger } from "pino";
import { pino } from "pino";

/** Never logged: credentials in headers and bodies. */
const REDACT = [
  "req.headers.authorization",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
  "*.password",
  "*.new_password",
  "*.current_password",
  "*.access_token",
  "*.refresh_token",
  "*.password_hash",
];

/** JSON lines on stdout (or `destination`), at `level` (the server's: LOG_LEVEL). */
export function createLogger(destination?: DestinationStream, level = "info"): Logger {
  return pino({ level, redact: { paths: REDACT, censor: "[redacted]" }, base: { service: "stoflow-api" } }, destination);
}

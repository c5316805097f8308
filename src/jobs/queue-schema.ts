import { Logger as WorkerLogger, runMigrations } from "graphile-worker";
import type { Logger } from "pino";
import { isDatabaseUnavailable } from "../db/unavailable.ts";

/**
 * Installs or upgrades graphile-worker's own schema (graphile_worker) as the database owner.
 * Runs before our migrations (migrations/ grant its tables to stoflow_worker and queue jobs into
 * it) and after a graphile-migrate reset (the `afterReset` hook of .gmrc, for the shadow database).
 */
export async function installJobQueue(ownerUrl: string): Promise<void> {
  await runMigrations({ connectionString: ownerUrl, logger: quietLogger });
}

/** graphile-worker's log lines, at their level, on a pino logger. */
export function workerLogger(logger: Logger): WorkerLogger {
  return new WorkerLogger((scope) => (level, message, meta) => {
    // The database ending its connections (a stop, a restart) is expected: a warning, not an error.
    const expected = level === "error" && isDatabaseUnavailable((meta as { error?: unknown } | undefined)?.error);
    const method =
      level === "error" && !expected ? "error" : level === "warning" || expected ? "warn" : level === "info" ? "info" : "debug";
    logger[method]({ ...scope, ...meta }, message);
  });
}

const quietLogger = new WorkerLogger(() => () => {});

import { flag, integer, optional } from "./fields.ts";

/** The job queue (graphile-worker): the server runs it in-process unless JOBS_IN_PROCESS=false (then `npm run worker`). */
export interface JobsConfig {
  inProcess: boolean;
  /**
   * The worker's connection (as stoflow_authenticator), when DATABASE_URL goes through a
   * transaction-mode pooler: graphile-worker LISTENs and sets its role at connection start, which
   * needs a session of its own. Unset: DATABASE_URL.
   */
  databaseUrl: string | undefined;
  /** Jobs run at once by one worker. */
  concurrency: number;
  /** Milliseconds between polls for jobs whose retry time came (new jobs are announced by LISTEN/NOTIFY). */
  pollIntervalMs: number;
}

export function readJobsConfig(env: NodeJS.ProcessEnv): JobsConfig {
  return {
    inProcess: flag(env, "JOBS_IN_PROCESS", true),
    databaseUrl: optional(env, "JOBS_DATABASE_URL"),
    // Sending is waiting on the relay: a relay that stalls on some connections holds a worker up
    // to SMTP_GREETING_TIMEOUT per message, and the others keep account messages flowing.
    concurrency: integer(env, "JOBS_CONCURRENCY", 8, 1, 100),
    pollIntervalMs: integer(env, "JOBS_POLL_INTERVAL_MS", 2_000, 100, 600_000),
  };
}

import { readReminderDays } from "./billing.ts";
import { readPort } from "./env.ts";
import { readJobsConfig, type JobsConfig } from "./jobs.ts";
import { readMailConfig, type MailConfig } from "./mail.ts";
import { readPoolConfig, type PoolConfig } from "./pool.ts";

/** What the job worker needs (`npm run worker`, or in-process in the server): it signs no tokens and hashes no passwords. */
export interface WorkerConfig extends PoolConfig {
  mail: MailConfig;
  jobs: JobsConfig;
  /** The billing clock's reminders (its crontab, src/jobs/billing-clock.ts). */
  billing: { reminderDays: number };
}

/** The job worker's settings: its pool, the mail it sends, its queue. No JWT secret is read or needed. */
export function readWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return {
    ...readPoolConfig(env),
    mail: readMailConfig(env, readPort(env)),
    jobs: readJobsConfig(env),
    billing: { reminderDays: readReminderDays(env) },
  };
}

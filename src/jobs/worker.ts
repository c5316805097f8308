import { run, type Runner } from "graphile-worker";
import type { Logger } from "pino";
import type { WorkerConfig } from "../config/worker.ts";
import { createPool } from "../db/pool.ts";
import { createMailer } from "../mail/mailer.ts";
import { accountEmailTask } from "./account-email.ts";
import { billingClockTask, billingCronItems, billingEmailTask } from "./billing.ts";
import { workerLogger } from "./queue-schema.ts";

export interface JobWorker {
  runner: Runner;
  stop(): Promise<void>;
}

/**
 * graphile-worker over connections of the server's login role switched to stoflow_worker (the
 * queue's tables and the token minting, nothing of the API). New jobs arrive by LISTEN/NOTIFY;
 * failed ones are retried with exponential backoff (graphile-worker: up to 25 attempts).
 */
export async function startJobWorker(appUrl: string, config: WorkerConfig, logger: Logger): Promise<JobWorker> {
  // The jobs running at once, plus graphile-worker's LISTEN connection.
  const pool = createPool(asWorker(config.jobs.databaseUrl ?? appUrl), { ...config, poolSize: config.jobs.concurrency + 1 }, logger);
  const mailer = createMailer(config.mail, logger);
  const runner = await run({
    pgPool: pool,
    concurrency: config.jobs.concurrency,
    pollInterval: config.jobs.pollIntervalMs,
    noHandleSignals: true,
    logger: workerLogger(logger),
    taskList: {
      account_email: accountEmailTask(pool, mailer, config.mail),
      billing_email: billingEmailTask(mailer, config.mail),
      billing_clock: billingClockTask(pool, config.billing.reminderDays),
    },
    // The billing clock's crontab, given here: without it, graphile-worker looks for ./crontab.
    parsedCronItems: billingCronItems(),
    // A finished job is marked done through a batcher that graphile-worker flushes before stop()
    // resolves. Without it (the default, -1) the completion is a promise nobody awaits: when it still
    // waits for a connection as the pool ends, it fails DATABASE_CONNECT_TIMEOUT later as an
    // unhandled rejection (seen in test/db/start.test.ts on a busy machine).
    preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
  }).catch(async (error) => {
    await pool.end();
    throw error;
  });
  return {
    runner,
    async stop() {
      await runner.stop();
      mailer.close();
      await pool.end();
    },
  };
}

/** The connection string with the role switched as each connection starts (no statement can run before it). */
function asWorker(appUrl: string): string {
  const url = new URL(appUrl);
  url.searchParams.set("options", "-c role=stoflow_worker");
  return url.toString();
}

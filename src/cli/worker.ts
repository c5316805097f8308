import "./env.ts";
import { readDatabaseConfig, readServerConfig } from "../config.ts";
import { prepareDatabase } from "../db/database.ts";
import { createLogger } from "../http/logging.ts";
import { startJobWorker } from "../jobs/worker.ts";

/**
 * `npm run worker`: the job worker alone (set JOBS_IN_PROCESS=false on the servers), over
 * DATABASE_URL or the embedded cluster a server runs. It signs no tokens: JWT settings are not needed.
 */
const logger = createLogger();
try {
  const config = readServerConfig({ ...process.env, JWT_SECRET: process.env.JWT_SECRET || "the-job-worker-signs-no-tokens-at-all" });
  const database = await prepareDatabase(readDatabaseConfig(), (line) => logger.info(line), { migrate: false });
  const worker = await startJobWorker(database.appUrl, config, logger);
  logger.info({ concurrency: config.jobs.concurrency, smtp: Boolean(config.mail.smtpUrl) }, "Stoflow job worker running");
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, async () => {
      await worker.stop();
      await database.stop();
      process.exit(0);
    });
  }
} catch (error) {
  console.error(`Stoflow job worker could not start: ${(error as Error).message}`);
  process.exit(1);
}

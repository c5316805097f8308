import "./env.ts";
import { readDatabaseConfig } from "../config/database.ts";
import { readWorkerConfig } from "../config/worker.ts";
import { prepareDatabase } from "../db/database.ts";
import { createLogger } from "../logger.ts";
import { startJobWorker } from "../jobs/worker.ts";
import { processIo, type Io } from "./io.ts";
import { isScript } from "./run.ts";
import { answerScriptUsage } from "./usage.ts";

/**
 * `npm run worker`: the job worker alone (set JOBS_IN_PROCESS=false on the servers), over
 * DATABASE_URL (or JOBS_DATABASE_URL) or the embedded cluster a server runs. It signs no tokens:
 * JWT settings are not needed. Returns how to stop it (and what the database preparation started).
 */
export async function work(io: Io): Promise<{ stop(): Promise<void> }> {
  const config = readWorkerConfig(io.env);
  const logger = createLogger(undefined, io.env.LOG_LEVEL ?? "info");
  const database = await prepareDatabase(readDatabaseConfig(io.env), io.err, { migrate: false });
  const worker = await startJobWorker(database.appUrl, config, logger).catch(async (error) => {
    await database.stop();
    throw error;
  });
  logger.info({ concurrency: config.jobs.concurrency, smtp: Boolean(config.mail.smtpUrl) }, "Stoflow job worker running");
  return { stop: () => worker.stop().then(() => database.stop()) };
}

if (isScript(import.meta.url)) {
  const answered = answerScriptUsage(
    {
      usage: "npm run worker",
      help: "Run the job worker alone (account messages), over DATABASE_URL or JOBS_DATABASE_URL, or the embedded cluster a server runs.",
    },
    process.argv.slice(2),
    processIo,
  );
  if (answered !== undefined) process.exit(answered);
  const running = await work(processIo).catch((error: Error) => {
    console.error(`Stoflow job worker could not start: ${error.message}`);
    process.exit(1);
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => void running.stop().then(() => process.exit(0)));
  }
}

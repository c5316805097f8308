import type { CommandMain, Io } from "../../src/cli/io.ts";
import type { TestDatabase } from "./db.ts";

/** What a command printed, each line ended by "\n" as on a terminal, and its exit code. */
export interface CommandResult {
  code: number;
  out: string;
  err: string;
}

/**
 * An Io that keeps what a command prints, over `env` alone (never this process's environment).
 * With `answers`, someone at a terminal types them, one per question (the questions are printed to err).
 */
export function recordingIo(env: NodeJS.ProcessEnv, answers?: string[]): Io & { printed: { out: string; err: string } } {
  const printed = { out: "", err: "" };
  return {
    printed,
    env,
    out: (line) => (printed.out += `${line}\n`),
    err: (line) => (printed.err += `${line}\n`),
    ask:
      answers &&
      ((question) => {
        printed.err += question;
        return Promise.resolve(answers.shift() ?? "");
      }),
  };
}

/** Runs one of src/cli's commands in this process, as `npm run …` would with `env` (and `answers` typed at a terminal). */
export async function runInProcess(main: CommandMain, argv: string[], env: NodeJS.ProcessEnv, answers?: string[]): Promise<CommandResult> {
  const io = recordingIo(env, answers);
  const code = await main(argv, io);
  return { code, ...io.printed };
}

/** The environment of a command on a test database given by URL (as in production: no embedded cluster). */
export function databaseEnv(db: TestDatabase, env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { DATABASE_URL: db.appUrl, DATABASE_OWNER_URL: db.ownerUrl, BCRYPT_COST: "4", ...env };
}

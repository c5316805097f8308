/**
 * What a command reads and writes: the process's environment and streams when run as a script,
 * a test's own when run in-process. A command takes its settings from `env`, never process.env.
 */
export interface Io {
  /** The command's result (a table, a JSON document, a URL). */
  out(line: string): void;
  /** Usage, progress and what went wrong. */
  err(line: string): void;
  env: NodeJS.ProcessEnv;
}

/** A command on `argv` (the arguments after the script), answering with its exit code. */
export type CommandMain = (argv: string[], io: Io) => Promise<number>;

export const processIo: Io = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  env: process.env,
};

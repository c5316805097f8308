import readline from "node:readline/promises";

/**
 * What a command reads and writes: the process's environment and streams when run as a script,
 * a test's own when run in-process. A command takes its settings from `env`, never process.env.
 */
export interface Io {
  /** The command's result (a table, a JSON document, a URL, the help asked for). */
  out: (line: string) => void;
  /** Usage after a mistake, progress and what went wrong. */
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
  /** Asks a question on a terminal and returns the answer; absent when no one is there to answer (a pipe, a test). */
  ask?: ((question: string) => Promise<string>) | undefined;
}

/** A command on `argv` (the arguments after the script), answering with its exit code. */
export type CommandMain = (argv: string[], io: Io) => Promise<number>;

export const processIo: Io = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  env: process.env,
  ask: process.stdin.isTTY ? askOnTerminal : undefined,
};

async function askOnTerminal(question: string): Promise<string> {
  const terminal = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await terminal.question(question);
  } finally {
    terminal.close();
  }
}

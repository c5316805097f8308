import type { Io } from "./io.ts";

/** What `--help` says of a command. */
export interface CommandHelp {
  usage: string;
  help: string;
}

/** Wrong usage: one line, exit code 2. */
export class UsageError extends Error {}

/** Wrong usage (a UsageError, a flag parseArgs refused, or what `alsoUsage` says) as one line and exit code 2; anything else is thrown on. */
export function usageErrorCode(error: unknown, io: Io, alsoUsage: (error: unknown) => boolean = () => false): number {
  const wrong = error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") || alsoUsage(error);
  if (!wrong) throw error;
  io.err((error as Error).message);
  return 2;
}

/**
 * Answers what is not a command to run: `help` / `--help` (the commands, or one, on stdout, exit
 * 0), no command or an unknown one (said so, usage on stderr, exit 2). Returns undefined when
 * `name` is a command to run. Nothing is read or changed on the way.
 */
export function answerUsage(
  script: string,
  commands: Record<string, CommandHelp>,
  [name, topic]: (string | undefined)[],
  help: boolean | undefined,
  io: Io,
): number | undefined {
  if (help || name === "help") {
    const asked = name === "help" ? topic : name;
    printUsage(script, commands, asked && commands[asked] ? [asked] : Object.keys(commands), io.out);
    return 0;
  }
  if (name && commands[name]) return undefined;
  if (name) io.err(`unknown command "${name}"`);
  printUsage(script, commands, Object.keys(commands), io.err);
  return 2;
}

function printUsage(script: string, commands: Record<string, CommandHelp>, names: string[], write: (line: string) => void): void {
  write(`usage: ${script} <command> [options]\n`);
  for (const name of names) write(`  ${commands[name].usage}\n      ${commands[name].help}`);
}

/**
 * Whether a command that drops data may go on: `--yes`, or `expected` typed at a terminal. Without
 * either (a pipe, a script, a test), a UsageError saying what --yes would allow.
 */
export async function confirmed(io: Io, yes: boolean | undefined, what: string, expected: string): Promise<boolean> {
  if (yes) return true;
  if (!io.ask) throw new UsageError(`refusing without --yes: ${what}`);
  const answer = await io.ask(`${what[0].toUpperCase()}${what.slice(1)}. Type ${expected} to go on: `);
  if (answer.trim() === expected) return true;
  io.err("not confirmed: nothing was changed");
  return false;
}

/** What `--help` says of a script that is one command (npm run migrate, db:dump…). */
export interface ScriptHelp extends CommandHelp {
  /** Whether it takes arguments (files) besides --help. */
  takesArguments?: boolean;
}

/**
 * Answers, before anything runs, `--help` (stdout, exit 0) and what the script does not take: a
 * flag, or an argument where it takes none (stderr, exit 2). Undefined when the script may run.
 */
export function answerScriptUsage({ usage, help, takesArguments = false }: ScriptHelp, argv: string[], io: Io): number | undefined {
  if (argv.some((arg) => arg === "--help" || arg === "-h")) {
    io.out(`usage: ${usage}\n  ${help}`);
    return 0;
  }
  const unexpected = argv.find((arg) => arg.startsWith("-") || !takesArguments);
  if (unexpected === undefined) return undefined;
  io.err(`${unexpected.startsWith("-") ? "unknown option" : "unexpected argument"} ${unexpected}\nusage: ${usage}`);
  return 2;
}

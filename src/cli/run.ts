import fs from "node:fs";
import { pathToFileURL } from "node:url";
import { processIo, type CommandMain, type Io } from "./io.ts";

/**
 * Runs a command: its exit code, or, when it throws, one line saying what failed (never a stack
 * trace) and exit code 1.
 */
export async function runCommand(name: string, io: Io, main: () => Promise<number | void> | number | void): Promise<number> {
  try {
    return (await main()) ?? 0;
  } catch (error) {
    io.err(`${name} failed: ${(error as Error).message}`);
    return 1;
  }
}

/**
 * A command file's top level: when the file is the script node runs, runs `main` on the process's
 * arguments, environment and streams. The process then ends by itself once its connections are
 * closed, with the command's exit code.
 */
export async function runAsScript(moduleUrl: string, main: CommandMain): Promise<void> {
  if (isScript(moduleUrl)) process.exitCode = await main(process.argv.slice(2), processIo);
}

/** Whether the module at `moduleUrl` is the script node runs (not a module a test imported). */
export function isScript(moduleUrl: string): boolean {
  // Through its real path: .gmrc's hooks run the scripts through a symbolic link in tests.
  return Boolean(process.argv[1]) && moduleUrl === pathToFileURL(fs.realpathSync(process.argv[1])).href;
}

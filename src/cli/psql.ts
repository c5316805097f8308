import { spawn } from "node:child_process";
import type { Io } from "./io.ts";

/**
 * Runs psql on `url` (the database owner's connection) with `args` (psql's own: -c, -f, -v…),
 * reading the terminal or stdin, and resolves with psql's exit code; without a psql on the PATH,
 * prints the URL to use with any client instead.
 */
export function openPsql(url: string, args: string[], io: Io): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn("psql", ["--dbname", url, ...args], { stdio: "inherit", env: io.env });
    child.on("error", () => {
      io.out(url);
      io.err("psql is not installed: connect with the URL above (it holds the owner's password)");
      resolve(0);
    });
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

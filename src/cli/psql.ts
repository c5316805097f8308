import { spawn } from "node:child_process";
import type { Io } from "./io.ts";

/**
 * Opens psql on `url` (the database owner's connection) and resolves with its exit code; without
 * a psql on the PATH, prints the URL to use with any client instead.
 */
export function openPsql(url: string, io: Io): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn("psql", [url], { stdio: "inherit", env: io.env });
    child.on("error", () => {
      io.out(url);
      io.err("psql is not installed: connect with the URL above (it holds the owner's password)");
      resolve(0);
    });
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

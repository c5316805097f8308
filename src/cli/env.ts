import fs from "node:fs";
import { parseEnv } from "node:util";

/**
 * Imported first by every command: reads `.env` (or ENV_FILE) when present. Variables already set
 * in the environment win, so a deployment's settings are never overridden by a stray file.
 */
export function loadEnvFile(env: NodeJS.ProcessEnv, file = env.ENV_FILE ?? ".env"): void {
  if (!fs.existsSync(file)) return;
  for (const [name, value] of Object.entries(parseEnv(fs.readFileSync(file, "utf8")))) {
    env[name] ??= value;
  }
}

loadEnvFile(process.env);

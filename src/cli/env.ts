import fs from "node:fs";
import { parseEnv } from "node:util";

/**
 * Imported first by every command: reads `.env` (or ENV_FILE) when present. Variables already set
 * in the environment win, so a deployment's settings are never overridden by a stray file.
 */
const file = process.env.ENV_FILE ?? ".env";
if (fs.existsSync(file)) {
  for (const [name, value] of Object.entries(parseEnv(fs.readFileSync(file, "utf8")))) {
    process.env[name] ??= value;
  }
}

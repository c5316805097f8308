import fs from "node:fs";
import { parseEnv } from "node:util";
import { integer, text } from "./fields.ts";

/** STOFLOW_DATA_DIR: the embedded cluster, its secrets, the development mail. */
export const dataFolder = (env: NodeJS.ProcessEnv) => text(env, "STOFLOW_DATA_DIR", "./.data");

/** NODE_ENV=production: no generated secrets, no explorer, no introspection, no open metrics. */
export function isProduction(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.NODE_ENV === "production";
}

/**
 * Reads `.env` (or ENV_FILE) into the environment when present, before any setting is read.
 * Variables already set win, so a deployment's settings are never overridden by a stray file.
 */
export function loadEnvFile(env: NodeJS.ProcessEnv = process.env, file = env.ENV_FILE ?? ".env"): void {
  if (!fs.existsSync(file)) return;
  for (const [name, value] of Object.entries(parseEnv(fs.readFileSync(file, "utf8")))) env[name] ??= value;
}

/** PORT: the API's port; the links of development messages name it too. */
export const readPort = (env: NodeJS.ProcessEnv) => integer(env, "PORT", 3000, 0, 65535);

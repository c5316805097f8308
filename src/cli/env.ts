import { loadEnvFile } from "../config.ts";

export { loadEnvFile };

/** Imported first by every command: `.env` (or ENV_FILE) is read before any setting. */
loadEnvFile();

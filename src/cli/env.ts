import { loadEnvFile } from "../config/env.ts";

export { loadEnvFile };

/** Imported first by every command: `.env` (or ENV_FILE) is read before any setting. */
loadEnvFile();
// Grafast's mode, before Grafast is loaded: its own rule (GRAPHILE_ENV, else NODE_ENV), with an
// unset NODE_ENV read as development, as every setting here reads it (Grafast would run in
// production mode and warn at every start). Production sets NODE_ENV=production.
process.env.GRAPHILE_ENV ??= process.env.NODE_ENV ?? "development";

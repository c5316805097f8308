import { migrate, watch, type Settings } from "graphile-migrate";
// graphile-migrate keeps its pools 200 ms after use and exits the process if one of them sees the
// server go away; closing them right after use keeps a stop of the database from killing us.
import { clearAllPools } from "graphile-migrate/dist/pgReal.js";
import { Logger } from "@graphile/logger";
import JSON5 from "json5";
import fs from "node:fs/promises";
import path from "node:path";

export type LogLine = (line: string) => void;

/**
 * Set by `npm run db -- watch` (and rebuild) for the transactions of graphile-migrate: tenant DDL
 * steps reach every tenant at once (app_private.catch_up_tenants_in_development).
 */
export const CATCH_UP_TENANTS = "stoflow.catch_up_tenants";

export interface MigrationUrls {
  ownerUrl: string;
  rootUrl?: string | undefined;
  shadowUrl?: string | undefined;
}

/**
 * The settings of `.gmrc` completed with the connection strings of this run. Its hooks (the dump
 * of data/schema.sql after migrations) run for the developer's `npm run db` commands only
 * (`hooks`), never when a server or a test database migrates.
 */
export async function migrationSettings(urls: MigrationUrls, log: LogLine = console.log, { hooks = false } = {}): Promise<Settings> {
  // Like graphile-migrate's own CLI, `.gmrc` is read in the folder the command runs in (npm run: the project's).
  const root = process.cwd();
  const { afterAllMigrations, afterCurrent, ...gmrc } = JSON5.parse<Settings>(await fs.readFile(path.join(root, ".gmrc"), "utf8"));
  return {
    ...gmrc,
    ...(hooks ? { afterAllMigrations, afterCurrent } : {}),
    migrationsFolder: path.resolve(root, gmrc.migrationsFolder ?? "migrations"),
    logger: new Logger(() => (_level, message, meta) => log(meta?.error ? failureText(meta.error as MigrationError) : message)),
    connectionString: urls.ownerUrl,
    ...(urls.rootUrl ? { rootConnectionString: urls.rootUrl } : {}),
    ...(urls.shadowUrl ? { shadowConnectionString: urls.shadowUrl } : {}),
  };
}

/** A failed migration as graphile-migrate describes it (the line of a syntax error and its text), without the stack trace. */
type MigrationError = Error & { code?: string; detail?: string; hint?: string; _gmMessageOverride?: string };

function failureText(error: MigrationError): string {
  const code = error.code && !error.message.endsWith(`[${error.code}]`) ? ` [${error.code}]` : "";
  return [
    error._gmMessageOverride ?? `🛑 ${error.message}${code}`,
    ...(error.detail ? [`   Detail: ${error.detail}`] : []),
    ...(error.hint ? [`   Hint: ${error.hint}`] : []),
  ].join("\n");
}

/** Applies the committed migrations that the database does not have yet. */
export async function applyMigrations(ownerUrl: string, log: LogLine): Promise<void> {
  try {
    await migrate(await migrationSettings({ ownerUrl }, log));
  } finally {
    clearAllPools();
  }
}

/**
 * Applies migrations/current.sql once on top of the committed migrations (graphile-migrate's
 * `watch --once`): the work in progress, so that tests can run before it is committed.
 */
export async function applyCurrentMigration(ownerUrl: string, log: LogLine): Promise<void> {
  try {
    await watch(await migrationSettings({ ownerUrl }, log), true);
  } finally {
    clearAllPools();
  }
}

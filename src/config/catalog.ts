import { readDatabaseConfig } from "./database.ts";
import { recordSettings } from "./fields.ts";
import { readOperatorConfig } from "./operator.ts";
import { readServerConfig } from "./server.ts";
import { readWorkerConfig } from "./worker.ts";

/** Settings read outside the process readers, with their default. */
const READ_ELSEWHERE: Record<string, string | undefined> = {
  ENV_FILE: ".env", // src/config/env.ts, loadEnvFile
  GRAPHILE_ENV: undefined, // src/cli/env.ts: NODE_ENV, else development
  TEST_ROOT_DATABASE_URL: undefined, // test/global-setup.ts
};
/** Set by tools for themselves, never by people: graphile-migrate hands its hooks the database URL. */
const NOT_SETTINGS = ["GM_DBURL"];

/**
 * Every setting people may set, with its default as text (undefined: unset by default), as the
 * readers of every process (server, job worker, operator commands, the database) read them. A
 * default computed from the machine or from other settings is given as computed here (e.g.
 * BCRYPT_CONCURRENCY: the cores less one); the README says how it is computed.
 */
export function settingsCatalog(): Map<string, string | undefined> {
  const catalog = recordSettings((recording) => {
    readDatabaseConfig(recording());
    readServerConfig(recording(), "a-generated-secret-of-32-characters!");
    readWorkerConfig(recording());
    readOperatorConfig(recording());
  });
  for (const name of NOT_SETTINGS) catalog.delete(name);
  return new Map([...catalog, ...Object.entries(READ_ELSEWHERE)]);
}

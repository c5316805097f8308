import { createRequire } from "node:module";
import path from "node:path";
import { withClient, type PreparedDatabase } from "./database.ts";
import type { LogLine } from "./migrations.ts";

// graphile-build-pg keeps its watch fixtures in dist/watchFixtures.js, which its package
// "exports" do not list: read beside its entry point (one copy of the SQL, theirs).
const require = createRequire(import.meta.url);
const { watchFixtures } = require(path.join(path.dirname(require.resolve("graphile-build-pg")), "watchFixtures.js")) as {
  watchFixtures: string;
};

/**
 * Installs PostGraphile's watch fixtures (schema `postgraphile_watch`: event triggers that NOTIFY
 * after DDL), which the development server's watch mode listens for to rebuild the GraphQL schema
 * when the database changes. Event triggers need a superuser, which the server's login role is
 * not: `npm start` installs them when it knows one (the embedded cluster, or ROOT_DATABASE_URL), and
 * `npm run db -- reset / rebuild` again in the database they recreate. Idempotent.
 */
export function installWatchFixtures(superuserUrl: string): Promise<unknown> {
  return withClient(superuserUrl, (client) => client.query(watchFixtures));
}

/**
 * Before a development server watches: the fixtures installed when a superuser is known, else
 * one line when the database lacks them (the schema then follows the database only at restarts).
 */
export async function prepareSchemaWatch(database: PreparedDatabase, log: LogLine): Promise<void> {
  try {
    if (database.superuserUrl) await installWatchFixtures(database.superuserUrl);
    else if (
      !(
        await withClient(database.appUrl, (client) =>
          client.query("select 1 from pg_event_trigger where evtname = 'postgraphile_watch_ddl'"),
        )
      ).rowCount
    ) {
      log(
        "GraphQL watch: this database has no postgraphile_watch event triggers and no superuser is known to install them (ROOT_DATABASE_URL): restart the server to see schema changes",
      );
    }
  } catch (error) {
    log(
      `GraphQL watch: could not install PostGraphile's watch fixtures (${(error as Error).message}): restart the server to see schema changes`,
    );
  }
}

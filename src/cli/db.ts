import "./env.ts";
import * as gm from "graphile-migrate";
import { readDatabaseConfig } from "../config.ts";
import { prepareDatabase } from "../db/database.ts";
import { migrationSettings } from "../db/migrations.ts";
import { clearAllPools } from "graphile-migrate/dist/pgReal.js";

/**
 * `npm run db -- <command>`: graphile-migrate's commands on this project's database (the embedded
 * cluster unless DATABASE_URL is set; then DATABASE_OWNER_URL, ROOT_DATABASE_URL and
 * SHADOW_DATABASE_URL are used).
 *   watch [--once]      apply migrations/current.sql on every save (--once: once)
 *   commit [message]    turn current.sql into the next committed migration
 *   uncommit            move the last committed migration back to current.sql
 *   status              what is committed, applied and current
 *   reset               drop and rebuild the database from the committed migrations
 */
const [command, ...rest] = process.argv.slice(2);
const commands: Record<string, (settings: gm.Settings) => Promise<unknown>> = {
  watch: (s) => gm.watch(s, rest.includes("--once")),
  commit: (s) => gm.commit(s, rest.join(" ") || undefined),
  uncommit: (s) => gm.uncommit(s),
  status: (s) => gm.status(s).then((st) => console.log(st)),
  reset: (s) => gm.reset(s),
};
const run = command ? commands[command] : undefined;
if (!run) {
  console.error(`usage: npm run db -- <${Object.keys(commands).join("|")}> [options]`);
  process.exit(2);
}
const config = readDatabaseConfig();
const database = await prepareDatabase(config, console.log, { migrate: false });
const ownerUrl = database.ownerUrl ?? fail("DATABASE_OWNER_URL is required");
const shadowUrl = config.shadowUrl ?? (config.appUrl ? undefined : ownerUrl.replace(/\/[^/]*$/, `/${config.databaseName}_shadow`));
try {
  await run(await migrationSettings({ ownerUrl, rootUrl: database.rootUrl, shadowUrl }, console.log, { hooks: true }));
} finally {
  clearAllPools();
  if (!(command === "watch" && !rest.includes("--once"))) await database.stop();
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

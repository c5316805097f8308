import "./env.ts";
import * as gm from "graphile-migrate";
import { readDatabaseConfig } from "../config.ts";
import { prepareDatabase } from "../db/database.ts";
import { migrationSettings } from "../db/migrations.ts";
import { installJobQueue } from "../jobs/queue-schema.ts";
import { clearAllPools } from "graphile-migrate/dist/pgReal.js";
import { runCommand } from "./run.ts";

/**
 * `npm run db -- <command>`: graphile-migrate's commands on this project's database (the embedded
 * cluster, the running one when a server or `watch` already runs it, unless DATABASE_URL is set;
 * then DATABASE_OWNER_URL, ROOT_DATABASE_URL and SHADOW_DATABASE_URL are used).
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

await runCommand(`db ${command ?? ""}`.trim(), async () => {
  const run = command ? commands[command] : undefined;
  if (!run) {
    console.error(`usage: npm run db -- <${Object.keys(commands).join("|")}> [options]`);
    return 2;
  }
  const config = readDatabaseConfig();
  const database = await prepareDatabase(config, console.log, { migrate: false });
  try {
    if (!database.ownerUrl) throw new Error("DATABASE_OWNER_URL is required with DATABASE_URL");
    await installJobQueue(database.ownerUrl); // the migrations use it (a reset installs it again: .gmrc afterReset)
    const shadowUrl = config.shadowUrl ?? (config.appUrl ? undefined : database.ownerUrl.replace(/\/[^/]*$/, `/${config.databaseName}_shadow`));
    await run(await migrationSettings({ ownerUrl: database.ownerUrl, rootUrl: database.rootUrl, shadowUrl }, console.log, { hooks: true }));
  } finally {
    clearAllPools(); // before the cluster stops, or graphile-migrate exits 1 on the closed connections
    if (!(command === "watch" && !rest.includes("--once"))) await database.stop();
  }
});

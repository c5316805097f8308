import "./env.ts";
import * as gm from "graphile-migrate";
import { readDatabaseConfig } from "../config.ts";
import { prepareDatabase } from "../db/database.ts";
import { migrationSettings } from "../db/migrations.ts";
import { installJobQueue } from "../jobs/queue-schema.ts";
import { clearAllPools } from "graphile-migrate/dist/pgReal.js";
import type { Io } from "./io.ts";
import { runAsScript, runCommand } from "./run.ts";

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
type MigrateCommand = (settings: gm.Settings, rest: string[], io: Io) => Promise<unknown>;

const COMMANDS: Record<string, MigrateCommand> = {
  watch: (s, rest) => gm.watch(s, rest.includes("--once")),
  commit: (s, rest) => gm.commit(s, rest.join(" ") || undefined),
  uncommit: (s) => gm.uncommit(s),
  status: (s, _rest, io) => gm.status(s).then((st) => io.out(JSON.stringify(st))),
  reset: (s) => gm.reset(s),
};

export function db([command, ...rest]: string[], io: Io): Promise<number> {
  return runCommand(`db ${command ?? ""}`.trim(), io, async () => {
    const run = command ? COMMANDS[command] : undefined;
    if (!run) {
      io.err(`usage: npm run db -- <${Object.keys(COMMANDS).join("|")}> [options]`);
      return 2;
    }
    const config = readDatabaseConfig(io.env);
    const database = await prepareDatabase(config, io.out, { migrate: false });
    try {
      if (!database.ownerUrl) throw new Error("DATABASE_OWNER_URL is required with DATABASE_URL");
      await installJobQueue(database.ownerUrl); // the migrations use it (a reset installs it again: .gmrc afterReset)
      const shadowUrl = config.shadowUrl ?? (config.appUrl ? undefined : database.ownerUrl.replace(/\/[^/]*$/, `/${config.databaseName}_shadow`));
      await run(await migrationSettings({ ownerUrl: database.ownerUrl, rootUrl: database.rootUrl, shadowUrl }, io.out, { hooks: true }), rest, io);
    } finally {
      clearAllPools(); // before the cluster stops, or graphile-migrate exits 1 on the closed connections
      if (!(command === "watch" && !rest.includes("--once"))) await database.stop();
    }
  });
}

await runAsScript(import.meta.url, db);

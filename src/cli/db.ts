import "./env.ts";
import { parseArgs } from "node:util";
import * as gm from "graphile-migrate";
import { readDatabaseConfig, type DatabaseConfig } from "../config/database.ts";
import { prepareDatabase, withClient, type PreparedDatabase } from "../db/database.ts";
import { CATCH_UP_TENANTS, migrationSettings } from "../db/migrations.ts";
import { installWatchFixtures } from "../db/watch-fixtures.ts";
import { installJobQueue } from "../jobs/queue-schema.ts";
import { clearAllPools } from "graphile-migrate/dist/pgReal.js";
import type { Io } from "./io.ts";
import { runAsScript, runCommand } from "./run.ts";
import { answerUsage, confirmed, usageErrorCode, UsageError, type CommandHelp } from "./usage.ts";

/**
 * `npm run db -- <command>`: graphile-migrate's commands on this project's database (the embedded
 * cluster, the running one when a server or `watch` already runs it, unless DATABASE_URL is set;
 * then DATABASE_OWNER_URL, ROOT_DATABASE_URL and SHADOW_DATABASE_URL are used). Wrapped, not
 * passed through: `--help` and a typo never act, and what drops the database asks first.
 */
interface DbContext {
  settings: gm.Settings;
  database: PreparedDatabase;
  config: DatabaseConfig;
  io: Io;
}

type Options = ReturnType<typeof parse>["values"];

interface DbCommand extends CommandHelp {
  /** The flags it takes, besides --help. */
  flags: (keyof Options)[];
  run(context: DbContext, positionals: string[], options: Options): Promise<unknown>;
}

const COMMANDS: Record<string, DbCommand> = {
  watch: {
    usage: "watch [--once]",
    help: "Apply migrations/current.sql now and on every save (--once: once, then exit); tenant DDL steps reach every tenant in the same transaction. Rewrites data/schema.sql after each run.",
    flags: ["once"],
    // Development: tenant steps reach every tenant at once (app_private.catch_up_tenants_in_development).
    run: ({ settings }, _args, { once }) => gm.watch({ ...settings, pgSettings: { [CATCH_UP_TENANTS]: "on" } }, once),
  },
  commit: {
    usage: "commit [message]",
    help: "Turn current.sql into the next committed migration (checked on the shadow database first).",
    flags: [],
    run: ({ settings }, words) => gm.commit(settings, words.join(" ") || undefined),
  },
  uncommit: {
    usage: "uncommit",
    help: "Move the last committed migration back to current.sql (only before it is pushed).",
    flags: [],
    run: ({ settings }) => gm.uncommit(settings),
  },
  status: {
    usage: "status",
    help: "What is committed, applied and current, as JSON.",
    flags: [],
    run: async ({ settings, io }) => io.out(JSON.stringify(await gm.status(settings))),
  },
  reset: {
    usage: "reset --yes",
    help: "Drop the database and recreate it from the committed migrations alone: every tenant is lost. On a terminal, typing the database's name does instead of --yes.",
    flags: ["yes"],
    run: (context, _args, { yes }) => recreate(context, yes, false),
  },
  rebuild: {
    usage: "rebuild --yes",
    help: "Drop the database and rebuild it from the committed migrations and current.sql, so that it holds what they say and nothing an earlier current.sql left: every tenant is lost. On a terminal, typing the database's name does instead of --yes.",
    flags: ["yes"],
    run: (context, _args, { yes }) => recreate(context, yes, true),
  },
};

/**
 * reset and rebuild: asks first; closes the other sessions of the database (a running server
 * reconnects once it is back); recreates it; then the watch fixtures of a development server.
 */
async function recreate({ settings, database, config, io }: DbContext, yes: boolean | undefined, withCurrent: boolean): Promise<number> {
  const name = config.appUrl ? decodeURIComponent(new URL(config.appUrl).pathname.slice(1)) : config.databaseName;
  if (!(await confirmed(io, yes, `this drops the database ${name} and every tenant in it`, name))) return 1;
  if (!database.superuserUrl) throw new Error("ROOT_DATABASE_URL is required to recreate an external database");
  await closeOtherSessions(database.rootUrl!, name, false);
  try {
    await gm.reset(settings);
  } finally {
    await closeOtherSessions(database.rootUrl!, name, true).catch(() => {}); // when the drop failed: the database as it was
  }
  if (withCurrent) await gm.watch({ ...settings, pgSettings: { [CATCH_UP_TENANTS]: "on" } }, true);
  await installWatchFixtures(database.superuserUrl);
  io.out(`database ${name} ${withCurrent ? "rebuilt from the committed migrations and current.sql" : "reset to the committed migrations"}`);
  return 0;
}

/**
 * Ends the sessions other processes hold on `database` and refuses new ones, so that DROP DATABASE
 * finds it free (a running server reconnects once it is back); `allow`: takes connections again.
 */
async function closeOtherSessions(rootUrl: string, database: string, allow: boolean): Promise<void> {
  await withClient(rootUrl, async (client) => {
    await client.query(`alter database ${client.escapeIdentifier(database)} with allow_connections ${allow}`);
    if (!allow)
      await client.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()", [
        database,
      ]);
  });
}

const OPTIONS = { help: { type: "boolean", short: "h" }, once: { type: "boolean" }, yes: { type: "boolean" } } as const;

function parse(argv: string[]) {
  return parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
}

/** Strict parsing: an unknown flag, or one the command does not take, is wrong usage. */
function commandLine(argv: string[]) {
  const { positionals, values } = parse(argv);
  const command = COMMANDS[positionals[0] ?? ""];
  const foreign = command && (Object.keys(values) as (keyof Options)[]).find((flag) => flag !== "help" && !command.flags.includes(flag));
  if (foreign && !values.help) throw new UsageError(`db ${positionals[0]} does not take --${foreign}`);
  return { positionals, values };
}

async function main(argv: string[], io: Io): Promise<number> {
  const {
    positionals: [name, ...args],
    values,
  } = commandLine(argv);
  const answered = answerUsage("npm run db --", COMMANDS, [name, args[0]], values.help, io);
  if (answered !== undefined) return answered;
  const config = readDatabaseConfig(io.env);
  const database = await prepareDatabase(config, io.out, { migrate: false });
  const watching = name === "watch" && !values.once;
  try {
    if (!database.ownerUrl) throw new Error("DATABASE_OWNER_URL is required with DATABASE_URL");
    await installJobQueue(database.ownerUrl); // the migrations use it (a reset installs it again: .gmrc afterReset)
    const shadowUrl =
      config.shadowUrl ?? (config.appUrl ? undefined : database.ownerUrl.replace(/\/[^/]*$/, `/${config.databaseName}_shadow`));
    const settings = await migrationSettings({ ownerUrl: database.ownerUrl, rootUrl: database.rootUrl, shadowUrl }, io.out, {
      hooks: true,
    });
    const code = await COMMANDS[name].run({ settings, database, config, io }, args, values);
    return typeof code === "number" ? code : 0;
  } catch (error) {
    // graphile-migrate has already told what failed in SQL (src/db/migrations.ts: no stack trace).
    if ((error as { _gmlogged?: boolean })._gmlogged) return 1;
    throw error;
  } finally {
    clearAllPools(); // before the cluster stops, or graphile-migrate exits 1 on the closed connections
    if (!watching) await database.stop();
  }
}

export function db(argv: string[], io: Io): Promise<number> {
  const name = argv.find((arg) => !arg.startsWith("-"));
  return runCommand(`db ${name ?? ""}`.trim(), io, () => main(argv, io).catch((error: unknown) => usageErrorCode(error, io)));
}

await runAsScript(import.meta.url, db);

import "./env.ts";
import pg from "pg";
import { parseArgs } from "node:util";
import { ClientError } from "../errors.ts";
import { codeOfPgError } from "../db/error-codes.ts";
import { addTeamMember } from "../operator/team-members.ts";
import { readDatabaseConfig } from "../config/database.ts";
import { readOperatorConfig } from "../config/operator.ts";
import { integer } from "../config/fields.ts";
import { migrateAll, prepareDatabase } from "../db/database.ts";
import { applyPendingTenantSteps, failureLine, progressEverySecond } from "../db/tenant-migrations.ts";
import { runTransaction } from "../db/transaction.ts";
import { failedJobs, retryJobs } from "../operator/jobs.ts";
import { createTenant } from "../operator/tenants.ts";
import { EXPORT_MAX_BYTES_SETTING } from "../graphql/export-line.ts";
import type { Io } from "./io.ts";
import { openPsql } from "./psql.ts";
import { runAsScript, runCommand } from "./run.ts";
import { printTable } from "./table.ts";
import { answerUsage, confirmed, usageErrorCode, UsageError, type CommandHelp } from "./usage.ts";

/**
 * `npm run stoflow -- <command>`: operator commands, run as the database owner (the embedded
 * cluster, the running one when a server already runs it, unless DATABASE_URL is set; then
 * DATABASE_OWNER_URL is required).
 * Exit codes: 0 done (and --help), 1 failed (a missing tenant, a tenant step that failed, drift),
 * 2 wrong usage (an unknown command or flag, a bad number, input the API would refuse).
 */
interface Context {
  owner: pg.Pool;
  ownerUrl: string;
  /** Connection as stoflow_authenticator, the server's, for what goes through the auth service. */
  appUrl: string;
  io: Io;
}

type Options = ReturnType<typeof parse>["values"];

interface Command extends CommandHelp {
  run(context: Context, args: string[], options: Options): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  migrate: {
    usage: "migrate",
    help: "Apply committed migrations, then bring every tenant schema to the last tenant DDL step (progress on stderr); exit 1 if a tenant failed.",
    run: async ({ ownerUrl, io }) => {
      const failures = await migrateAll(ownerUrl, readDatabaseConfig(io.env).tenantMigrationBatch, io.err);
      return failures.length === 0 ? 0 : 1;
    },
  },
  psql: {
    usage: "psql [psql's own arguments: -c <sql>, -f <file>, -v name=value…]",
    help: "Open psql on the database as its owner, with these arguments, and exit with its code (prints the connection URL when psql is not installed).",
    run: ({ ownerUrl, io }, args) => openPsql(ownerUrl, args, io),
  },
  "tenants:list": {
    usage: "tenants:list [--json]",
    help: "Every tenant with its tier, status and tenant schema version.",
    run: async ({ owner, io }, _args, options) => {
      const { rows } = await owner.query<Row>(`
        select t.id, t.name, t.email, t.subscription_tier as tier, t.subscription_status as status, t.is_active as active,
               s.schema_name as schema, s.version, (select max(version) from app_private.tenant_ddl_steps) as latest
          from public.tenants t join app_private.tenant_schemas s on s.tenant_id = t.id order by t.id`);
      print(rows, options, io, "no tenants");
      return 0;
    },
  },
  "tenants:create": {
    usage: "tenants:create --name <name> --email <email> --password <password> [--tier starter]",
    help: "Register a tenant with its admin user, with the rules of POST /api/auth/register.",
    run: async ({ appUrl, io }, _args, { name, email, password, tier }) => {
      if (name === undefined || email === undefined || password === undefined)
        throw new UsageError("tenants:create needs --name, --email and --password");
      const app = new pg.Pool({ connectionString: appUrl, max: 1 });
      try {
        const created = await createTenant(app, readOperatorConfig(io.env), { name, email, password, subscription_tier: tier });
        io.out(JSON.stringify(created));
        return 0;
      } finally {
        await app.end();
      }
    },
  },
  "users:add": {
    usage: "users:add --tenant <id> --email <email> --role admin|user|viewer [--name <full name>] [--password <password>]",
    help:
      "Add a user to a tenant (for scripts; people are invited). Without --password, the account gets one nobody knows " +
      "and the address a password-reset link, so its owner chooses theirs. An address with an account anywhere: exit 1.",
    run: async ({ owner, io }, _args, { tenant, email, role, name, password }) => {
      if (email === undefined || role === undefined) throw new UsageError("users:add needs --tenant, --email and --role");
      const tenantId = await existingTenant(owner, tenant);
      const added = await addTeamMember(
        owner,
        { tenant_id: tenantId, email, role, full_name: name, password },
        readOperatorConfig(io.env).bcryptCost,
      );
      io.out(JSON.stringify(added));
      return 0;
    },
  },
  "tenants:check": {
    usage: "tenants:check [--full] [--json]",
    help:
      "List the tenants whose schema lags behind the template (with the failure that stopped them) and every difference " +
      "between a tenant schema and tenant_template; exit 1 if there is any. Compares each schema's fingerprint with the " +
      "template's and only those that differ line by line; --full: every schema line by line (minutes at 50,000 tenants).",
    run: async ({ owner, io }, _args, options) => {
      const lagging = (
        await owner.query<Row>("select tenant_id, schema_name, version, latest, failure from app_private.lagging_tenant_schemas()")
      ).rows;
      const check = options.full ? "tenant_structure_drift" : "tenant_structure_drift_fast";
      const drift = (await owner.query<Row>(`select * from app_private.${check}()`)).rows;
      if (options.json) io.out(JSON.stringify({ lagging, drift }, null, 2));
      else {
        printTable(lagging, io.out);
        if (lagging.length > 0 && drift.length > 0) io.out("");
        printTable(drift, io.out);
      }
      io.err(
        lagging.length + drift.length === 0
          ? "every tenant schema matches the template"
          : `${lagging.length} tenant schemas lag behind the template; ${drift.length} differences`,
      );
      return lagging.length + drift.length === 0 ? 0 : 1;
    },
  },
  "tenants:migrate": {
    usage: "tenants:migrate [--batch 50] [--tenant <id>] [--dry-run [--json]]",
    help:
      "Apply pending tenant DDL steps, a batch of schemas per transaction (progress with rate and estimate on stderr); " +
      "--tenant: that tenant alone (try a step on one first); --dry-run: list what each tenant lacks. Exit 1 if a tenant failed.",
    run: async ({ owner, io }, _args, options) => {
      const batch = whole(options.batch, "--batch", 50, 1000);
      const tenantId = options.tenant === undefined ? undefined : await existingTenant(owner, options.tenant);
      if (options["dry-run"]) {
        const { rows } = await owner.query<Row>(
          "select tenant_id, schema_name, version, latest, missing, failure from app_private.lagging_tenant_schemas() where $1::int is null or tenant_id = $1",
          [tenantId ?? null],
        );
        print(rows, options, io);
        io.err(`${rows.length} tenant schemas lack a step`);
        return 0;
      }
      const { migrated, failures } = await applyPendingTenantSteps(owner, batch, {
        tenantId,
        onProgress: progressEverySecond(io.err),
        onFailure: (failure) => io.err(failureLine(failure)),
      });
      io.err(`${migrated} tenant schemas migrated${failures.length ? `, ${failures.length} failed` : ""}`);
      return failures.length === 0 ? 0 : 1;
    },
  },
  "tenants:export": {
    usage: "tenants:export <tenant-id>",
    help: "Print one tenant's data as one JSON document (as the exportTenantData query).",
    run: async ({ owner, io }, args) => {
      const id = await existingTenant(owner, args[0]);
      return asTenant(owner, id, async (client) => {
        const { rows } = await client.query<{ doc: unknown }>("select public.export_tenant_data() as doc");
        io.out(JSON.stringify(rows[0].doc, null, 2));
        return 0;
      });
    },
  },
  "tenants:delete": {
    usage: "tenants:delete <tenant-id> --yes",
    help: "Delete a tenant whole: schema, users, sessions, subscriptions (as the deleteTenant mutation). On a terminal, typing the tenant's name does instead of --yes.",
    run: async ({ owner, io }, args, options) => {
      const refusal = "this deletes the tenant and all its data";
      if (!options.yes && !io.ask) throw new UsageError(`refusing without --yes: ${refusal}`);
      const id = await existingTenant(owner, args[0]);
      const {
        rows: [tenant],
      } = await owner.query<{ name: string }>("select name from public.tenants where id = $1", [id]);
      if (!(await confirmed(io, options.yes, `${refusal} (tenant ${id})`, tenant.name))) return 1;
      return asTenant(owner, id, async (client) => {
        await client.query("select public.delete_tenant(name) from public.tenants where id = $1", [id]);
        io.err(`tenant ${id} deleted`);
        return 0;
      });
    },
  },
  "tenants:set-tier": {
    usage: "tenants:set-tier <tenant-id> <tier> --yes",
    help:
      "Put a tenant on a tier, active at once, whatever it paid (payment settled outside Stripe, or BILLING=none in production): " +
      "the current period ends, a new one opens; nothing is deleted when it goes down. Refused without --yes.",
    run: async ({ owner, io }, args, options) => {
      const tier = args[1];
      if (tier === undefined) throw new UsageError("tenants:set-tier needs a tenant id and a tier");
      if (!options.yes) throw new UsageError(`refusing without --yes: this puts the tenant on the ${tier} tier, active, without payment`);
      const id = await existingTenant(owner, args[0]);
      const { rows } = await owner
        .query<Row>("select tier, status, start_date from app_private.set_tenant_tier($1, $2)", [id, tier])
        .catch((error: unknown) => {
          throw codeOfPgError(error) === "INVALID_INPUT" ? new UsageError((error as Error).message) : error;
        });
      print(rows, options, io);
      io.err(`tenant ${id} is on the ${tier} tier`);
      return 0;
    },
  },
  "jobs:failed": {
    usage: "jobs:failed [--json]",
    help: "The jobs whose last attempt failed (messages not sent): retrying with backoff, or failed for good, with the error.",
    run: async ({ owner, io }, _args, options) => {
      print(await failedJobs(owner), options, io, "no failed jobs");
      return 0;
    },
  },
  "jobs:retry": {
    usage: "jobs:retry <job-id>... | --all",
    help: "Run these failed jobs (--all: every one listed by jobs:failed) again now, their attempts counted afresh.",
    run: async ({ owner, io }, args, options) => {
      if (!options.all && (args.length === 0 || !args.every((id) => /^[1-9][0-9]{0,17}$/.test(id)))) {
        throw new UsageError("name the jobs to retry by id (jobs:failed lists them), or --all");
      }
      const retried = await retryJobs(owner, options.all ? "failed" : args.map(Number));
      io.err(`${retried.length} jobs rescheduled${retried.length ? `: ${retried.join(", ")}` : ""}`);
      return retried.length > 0 || options.all ? 0 : 1;
    },
  },
};

/** A row of an operator's listing, printed as it comes. */
type Row = Record<string, unknown>;

/** A list as JSON (--json) or as a plain aligned table; an empty table says `none` on stderr. */
function print(rows: Row[], options: Options, io: Io, none?: string) {
  if (options.json) io.out(JSON.stringify(rows, null, 2));
  else if (rows.length === 0 && none) io.err(none);
  else printTable(rows, io.out);
}

/** A whole number option within bounds, or wrong usage. */
function whole(raw: string | undefined, flag: string, fallback: number, max: number): number {
  try {
    return integer({ VALUE: raw }, "VALUE", fallback, 1, max);
  } catch {
    throw new UsageError(`${flag} must be a whole number from 1 to ${max} (got "${raw}")`);
  }
}

/** The id of a tenant that exists: a missing or bad number is wrong usage (2), an unknown tenant a failure (1). */
async function existingTenant(owner: pg.Pool, raw: string | undefined): Promise<number> {
  if (raw === undefined) throw new UsageError("a tenant id is missing");
  if (!/^[1-9][0-9]{0,9}$/.test(raw)) throw new UsageError(`a tenant id is a whole number (got "${raw}")`);
  const { rowCount } = await owner.query("select 1 from public.tenants where id = $1", [Number(raw)]);
  if (!rowCount) throw new Error(`no tenant ${raw}`);
  return Number(raw);
}

/** Runs `work` in a transaction carrying the tenant's claim, as the tenant-scoped SQL functions expect; an operator's export has no size bound. */
function asTenant(owner: pg.Pool, id: number, work: (client: pg.PoolClient) => Promise<number>): Promise<number> {
  return runTransaction(owner, { "jwt.claims.tenant_id": String(id), [EXPORT_MAX_BYTES_SETTING]: "0" }, work);
}

const OPTIONS = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean" },
  yes: { type: "boolean" },
  "dry-run": { type: "boolean" },
  full: { type: "boolean" },
  all: { type: "boolean" },
  name: { type: "string" },
  email: { type: "string" },
  password: { type: "string" },
  tier: { type: "string" },
  role: { type: "string" },
  batch: { type: "string" },
  tenant: { type: "string" },
} as const;

/** Strict parsing: an unknown or malformed flag is wrong usage. */
function parse(argv: string[]) {
  return parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
}

/**
 * The command's positionals and options; psql's arguments are psql's own, passed on untouched
 * (a leading `--` dropped: `npm run psql -- -- -c …`), except a lone --help.
 */
function commandLine(argv: string[]): { positionals: string[]; values: Options } {
  if (argv[0] !== "psql" || argv.slice(1).every((arg) => arg === "--help" || arg === "-h")) return parse(argv);
  const args = argv.slice(argv[1] === "--" ? 2 : 1);
  return { positionals: ["psql", ...args], values: {} };
}

async function main(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = commandLine(argv);
  const [name, ...args] = positionals;
  const answered = answerUsage("npm run stoflow --", COMMANDS, positionals, values.help, io);
  if (answered !== undefined) return answered;
  const database = await prepareDatabase(readDatabaseConfig(io.env), io.err, { migrate: false });
  const owner = database.ownerUrl ? new pg.Pool({ connectionString: database.ownerUrl, max: 2 }) : undefined;
  try {
    if (!owner) throw new UsageError("DATABASE_OWNER_URL is required with DATABASE_URL");
    if (name !== "migrate" && name !== "psql") await assertMigrated(owner);
    return await COMMANDS[name].run({ owner, ownerUrl: database.ownerUrl!, appUrl: database.appUrl, io }, args, values);
  } finally {
    await owner?.end();
    await database.stop();
  }
}

/** A database the migrations never ran on (a fresh data folder) is said so, not met as a missing table. */
async function assertMigrated(owner: pg.Pool): Promise<void> {
  const {
    rows: [{ migrated }],
  } = await owner.query<{ migrated: boolean }>("select to_regclass('app_private.tenant_schemas') is not null as migrated");
  if (!migrated) throw new Error("this database has no migrations yet: run `npm run migrate` first");
}

/** Input the API refuses is wrong usage too (exit code 2). */
const refusedInput = (error: unknown) => error instanceof ClientError && error.code === "INVALID_INPUT";

/** `npm run stoflow -- <argv>`: the exit code of the command argv names. */
export function stoflow(argv: string[], io: Io): Promise<number> {
  const name = argv.find((arg) => !arg.startsWith("-")) ?? "stoflow";
  return runCommand(name, io, () => main(argv, io).catch((error: unknown) => usageErrorCode(error, io, refusedInput)));
}

await runAsScript(import.meta.url, stoflow);

import "./env.ts";
import pg from "pg";
import { parseArgs } from "node:util";
import { hashPassword } from "../auth/passwords.ts";
import { integer, readDatabaseConfig } from "../config.ts";
import { migrateAll, prepareDatabase } from "../db/database.ts";
import { applyPendingTenantSteps } from "../db/tenant-migrations.ts";
import { withSettings } from "../db/transaction.ts";

/**
 * `npm run stoflow -- <command>`: operator commands, run as the database owner (the embedded
 * cluster unless DATABASE_URL is set; then DATABASE_OWNER_URL is required).
 * Exit codes: 0 done, 1 failed (or drift found), 2 wrong usage.
 */
interface Context {
  owner: pg.Pool;
  ownerUrl: string;
}

interface Command {
  usage: string;
  help: string;
  run(context: Context, args: string[], options: Record<string, string | boolean | undefined>): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  migrate: {
    usage: "migrate",
    help: "Apply committed migrations, then bring every tenant schema to the last tenant DDL step (progress on stderr).",
    run: async ({ ownerUrl }) => {
      await migrateAll(ownerUrl, readDatabaseConfig().tenantMigrationBatch, (line) => console.error(line));
      return 0;
    },
  },
  "tenants:list": {
    usage: "tenants:list [--json]",
    help: "Every tenant with its tier, status and tenant schema version.",
    run: async ({ owner }, _args, options) => {
      const { rows } = await owner.query(`
        select t.id, t.name, t.email, t.subscription_tier as tier, t.subscription_status as status, t.is_active as active,
               s.schema_name as schema, s.version, (select max(version) from app_private.tenant_ddl_steps) as latest
          from public.tenants t join app_private.tenant_schemas s on s.tenant_id = t.id order by t.id`);
      if (options.json) console.log(JSON.stringify(rows, null, 2));
      else console.table(rows);
      return 0;
    },
  },
  "tenants:create": {
    usage: "tenants:create --name <name> --email <email> --password <password> [--tier starter]",
    help: "Register a tenant with its admin user (as POST /api/auth/register does).",
    run: async ({ owner }, _args, options) => {
      const { name, email, password, tier = "starter" } = options as Record<string, string>;
      if (!name || !email || !password) return usage("tenants:create", 2);
      const hash = await hashPassword(password, integer(process.env, "BCRYPT_COST", 12, 4, 15));
      const { rows } = await owner.query("select (c).tenant_id, (c).sub as user_id from app_private.register_tenant($1, $2, $3, $4) c",
        [name, email, hash, tier]);
      console.log(JSON.stringify({ ...rows[0], schema: `client_${rows[0].tenant_id}` }));
      return 0;
    },
  },
  "tenants:check": {
    usage: "tenants:check",
    help: "Compare every tenant schema with tenant_template; exit 1 and list the differences if any drifted.",
    run: async ({ owner }) => {
      const { rows } = await owner.query("select * from app_private.tenant_structure_drift()");
      for (const row of rows) console.log(`${row.schema_name}\t${row.difference}\t${row.object}`);
      console.error(rows.length === 0 ? "every tenant schema matches the template" : `${rows.length} differences`);
      return rows.length === 0 ? 0 : 1;
    },
  },
  "tenants:migrate": {
    usage: "tenants:migrate [--batch 50]",
    help: "Apply pending tenant DDL steps to every tenant schema, a batch of schemas per transaction.",
    run: async ({ owner }, _args, options) => {
      const batch = integer({ BATCH: options.batch as string | undefined }, "BATCH", 50, 1, 1000);
      const migrated = await applyPendingTenantSteps(owner, batch, (n) => console.error(`tenant schemas migrated: ${n}`));
      console.error(`${migrated} tenant schemas migrated`);
      return 0;
    },
  },
  "tenants:export": {
    usage: "tenants:export <tenant-id>",
    help: "Print one tenant's data as one JSON document (as the exportTenantData query).",
    run: ({ owner }, args) => asTenant(owner, args[0], async (client) => {
      const { rows } = await client.query("select public.export_tenant_data() as doc");
      console.log(JSON.stringify(rows[0].doc, null, 2));
      return 0;
    }),
  },
  "tenants:delete": {
    usage: "tenants:delete <tenant-id> --yes",
    help: "Delete a tenant whole: schema, users, sessions, subscriptions (as the deleteTenant mutation).",
    run: ({ owner }, args, options) => {
      if (!options.yes) {
        console.error("refusing without --yes: this deletes the tenant and all its data");
        return Promise.resolve(2);
      }
      return asTenant(owner, args[0], async (client) => {
        const { rows } = await client.query("select public.delete_tenant(name) as deleted from public.tenants where id = $1", [args[0]]);
        console.error(rows[0]?.deleted ? `tenant ${args[0]} deleted` : `no tenant ${args[0]}`);
        return rows[0]?.deleted ? 0 : 1;
      });
    },
  },
};

/** Runs `work` in a transaction carrying the tenant's claim, as the tenant-scoped SQL functions expect. */
function asTenant(owner: pg.Pool, id: string | undefined, work: (client: pg.PoolClient) => Promise<number>): Promise<number> {
  if (!id || !/^[1-9][0-9]*$/.test(id)) {
    console.error("a numeric tenant id is required");
    return Promise.resolve(2);
  }
  return withSettings(owner, { "jwt.claims.tenant_id": id }, work);
}

/** Prints the commands (or one command) to stderr; returns `code`: 0 when asked with --help, 2 on misuse. */
function usage(name: string | undefined, code: number): number {
  const shown = name ? [name] : Object.keys(COMMANDS);
  console.error(`usage: npm run stoflow -- <command> [options]\n`);
  for (const key of shown) console.error(`  ${COMMANDS[key]!.usage}\n      ${COMMANDS[key]!.help}`);
  return code;
}

const OPTIONS = {
  help: { type: "boolean", short: "h" }, json: { type: "boolean" }, yes: { type: "boolean" },
  name: { type: "string" }, email: { type: "string" }, password: { type: "string" }, tier: { type: "string" }, batch: { type: "string" },
} as const;

/** Strict parsing: an unknown or malformed flag is one line on stderr, then null (exit 2). */
function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  } catch (error) {
    console.error((error as Error).message);
    return null;
  }
}

async function main(argv: string[]): Promise<number> {
  const parsed = parse(argv);
  if (!parsed) return 2;
  const { positionals, values } = parsed;
  const [name, ...args] = positionals;
  const command = name ? COMMANDS[name] : undefined;
  if (values.help) return usage(command ? name : undefined, 0);
  if (!command) return usage(undefined, 2);
  const database = await prepareDatabase(readDatabaseConfig(), (line) => console.error(line), { migrate: false });
  if (!database.ownerUrl) {
    console.error("DATABASE_OWNER_URL is required with DATABASE_URL");
    await database.stop();
    return 2;
  }
  const owner = new pg.Pool({ connectionString: database.ownerUrl, max: 2 });
  try {
    return await command.run({ owner, ownerUrl: database.ownerUrl }, args, values);
  } catch (error) {
    console.error(`${name} failed: ${(error as Error).message}`);
    return 1;
  } finally {
    await owner.end();
    await database.stop();
  }
}

process.exitCode = await main(process.argv.slice(2));

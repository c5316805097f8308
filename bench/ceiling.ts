import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import pg from "pg";
import { readDatabaseConfig } from "../src/config/database.ts";
import { prepareDatabase } from "../src/db/database.ts";
import { temporaryDataDir } from "../src/db/embedded.ts";
import { applyPendingTenantSteps } from "../src/db/tenant-migrations.ts";
import { LOAD_RUN_LIMITS, readBenchConfig } from "./config.ts";
import { benchOptions, wholeOption } from "./options.ts";
import { endUnlessFailed, memoryMb, percentiles, startServer, startupFootprint } from "./measure.ts";
import { GROUPS, measureAffinity, POOL_SIZE, tenantTokens, type AffinityFigures } from "./affinity.ts";

const BENCH = readBenchConfig(process.env, 54397);

/**
 * `npm run bench:ceiling -- --checkpoints 10000,25000,50000`: how far one PostgreSQL node goes
 * with a schema per tenant. Tenants are created in SQL (app_private.register_tenant, the function
 * registration calls, PROVISIONERS at once); at each checkpoint the same figures are measured:
 * registration latency through HTTP, gateway startup and RSS, the memory of a backend that has
 * touched every tenant, one DDL step across all tenants, the structure check, the data folder, and
 * tenant-affine connections on and off (bench/affinity.ts). Writes docs/tenant-ceiling.md, unless a
 * request failed (then no page: a run with errors is no figure).
 */
const HELP = {
  usage: "npm run bench:ceiling [-- --checkpoints N,N…] [--memory-reads N]",
  help: "Create tenants in SQL on a fresh embedded PostgreSQL up to each checkpoint (default 1000,2000), measure what a node carries there (with every tenant reading --memory-reads times, default 8, before the pool's memory is taken), and write docs/tenant-ceiling.md.",
};
const options = benchOptions(HELP, { checkpoints: { type: "string" }, "memory-reads": { type: "string" } });
const { checkpoints = "1000,2000" } = options;
/** Reads by every tenant before the pool's memory is taken: the more, the closer each backend is to having seen all it will. */
const MEMORY_READS = wholeOption(HELP, "memory-reads", options["memory-reads"], 8, 1, 100);
const CHECKPOINTS = checkpoints.split(",").map((n) => wholeOption(HELP, "checkpoints", n, 0, 1, 1_000_000));
const PROVISIONERS = BENCH.provisioners;
const HASH = "$2b$04$abcdefghijklmnopqrstuuS3q2mYV0hDFTDpc6vTNqsVWnfWvCRXu"; // no one signs in as these
const dataDir = await temporaryDataDir("stoflow-ceiling-");
const database = await prepareDatabase(
  { ...readDatabaseConfig({ STOFLOW_DATA_DIR: dataDir, STOFLOW_PG_PORT: String(BENCH.pgPort) }), includeCurrentMigration: true },
  () => {},
);
const owner = new pg.Pool({ connectionString: database.ownerUrl, max: 2 });
const serverEnv = {
  DATABASE_URL: database.appUrl,
  JWT_SECRET: "bench-secret-that-is-at-least-32-characters",
  BCRYPT_COST: "4",
  GRAPHILE_ENV: "production",
  STOFLOW_DATA_DIR: dataDir,
  ...LOAD_RUN_LIMITS,
  HTTP_CLIENT_CONCURRENCY: "100000",
  LOG_LEVEL: "warn",
};
const rows: string[] = [];
const affinityRows: string[] = [];
let tenants = 0;

for (const checkpoint of CHECKPOINTS) {
  const provisionStarted = performance.now();
  const before = tenants;
  await provisionUpTo(checkpoint);
  const provisionSeconds = (performance.now() - provisionStarted) / 1000;
  const registration = await registrationLatency(checkpoint);
  const footprint = await startupFootprint(serverEnv, BENCH.httpPort + 1);
  const backend = await backendTouchingEveryTenant();
  const ddl = await ddlStepAcrossTenants(checkpoint);
  const check = await structureCheckTimes();
  const disk = dataFolder();
  const catalog = (
    await owner.query<{ relations: number; bytes: string }>(
      "select (select count(*) from pg_class)::int as relations, pg_database_size(current_database()) as bytes",
    )
  ).rows[0];
  const affinity = await measureAffinity(
    owner,
    serverEnv,
    await tenantTokens(owner, serverEnv),
    [BENCH.httpPort + 2, BENCH.httpPort + 3],
    BENCH.seconds,
    BENCH.rounds,
    MEMORY_READS,
  );
  affinityRows.push(affinityRow(affinity));
  console.log(affinityRows.at(-1));
  const row =
    `| ${tenants} | ${provisionSeconds.toFixed(0)} s (${((provisionSeconds * 1000) / Math.max(1, tenants - before)).toFixed(1)} ms/tenant avg) | ${registration.p50} / ${registration.p99} ms ` +
    `| ${footprint.startupMs} ms / ${footprint.rssMb} MiB | ${backend.rssAnonMb} MiB (${backend.seconds.toFixed(1)} s) | ${ddl.seconds.toFixed(1)} s, drift ${ddl.drift} ` +
    `| ${(check.fastMs / 1000).toFixed(1)} s / ${(check.fullMs / 1000).toFixed(1)} s | ${catalog.relations} | ${(Number(catalog.bytes) / 2 ** 30).toFixed(2)} GiB / ${(disk.bytes / 2 ** 30).toFixed(2)} GiB, ${disk.files} files |`;
  rows.push(row);
  console.log(row);
}
await owner.end();
await database.stop();
await fs.rm(dataDir, { recursive: true, force: true });
endUnlessFailed();
await fs.writeFile(
  "docs/tenant-ceiling.md",
  `# The ceiling of one PostgreSQL node

Written by \`npm run bench:ceiling -- --checkpoints ${CHECKPOINTS.join(",")}\` on a fresh embedded PostgreSQL (default settings,
\`max_locks_per_transaction = 64\`). Tenants are created ${PROVISIONERS} at a time by \`app_private.register_tenant\`
(what registration calls, without bcrypt); at each checkpoint:

- registration: 100 sign-ups through HTTP, one after another (bcrypt cost 4), p50 / p99;
- gateway: startup up to a served GraphQL request, and its RSS (median of 3 starts);
- backend: private memory (RssAnon) of one PostgreSQL backend after it read \`products\` of every tenant, and how long that took;
- DDL step: one column added to every tenant's \`products\` (batches of 50) and the drift left after;
- structure check: fast / full, \`app_private.tenant_structure_drift_fast()\` (\`npm run stoflow -- tenants:check\`) / \`app_private.tenant_structure_drift()\` (\`tenants:check --full\`);
- catalog: rows of \`pg_class\`; database size / data folder size and its file count.

| tenants | provisioning (this step) | registration p50 / p99 | gateway startup / RSS | backend after every tenant | DDL step | structure check | pg_class | database / folder |
|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}

## Tenant-affine connections

The gateway's pool split into groups (\`DATABASE_POOL_GROUPS\`, src/db/tenant-pool.ts): a
tenant's transactions take a connection of its group. Measured at each checkpoint on gateways in
processes of their own, pool of ${POOL_SIZE} (\`DATABASE_POOL_SIZE\`), connections never recycled
(\`DATABASE_POOL_MAX_LIFETIME=0\`), ${GROUPS} groups ("on") against 1 ("off"):

- pool memory: every tenant reads \`products\` ${MEMORY_READS} times through the gateway (all tenants in a
  shuffled order per round, 32 requests at once), then the private memory (RssAnon) of every
  backend of the gateway's pool, summed (backends in brackets), and how long the reads took;
- reads: one GraphQL read, 32 connections, ${BENCH.seconds} s after a 2 s warm-up, on and off alternated
  ${BENCH.rounds} times (ABAB…), medians; ratio = on / off. "one sending half": 16 connections read as one
  tenant, 16 as every other tenant in turn; its own p99.

| tenants | pool memory on / off | reads, 200 tenants: rps on / off (ratio), p99 | reads, every tenant | one tenant sending half: rps, its p99 on / off (ratio) |
|---|---|---|---|---|
${affinityRows.join("\n")}

Read with docs/scaling.md, which says where this stops being reasonable.
`,
);

/** Creates tenants in SQL, PROVISIONERS connections at once, until there are `target`. */
async function provisionUpTo(target: number): Promise<void> {
  const clients = await Promise.all(
    Array.from({ length: PROVISIONERS }, async () => {
      const client = new pg.Client({ connectionString: database.appUrl });
      await client.connect();
      return client;
    }),
  );
  await Promise.all(
    clients.map(async (client) => {
      while (tenants < target) {
        const n = tenants++;
        await client.query("begin; set local role stoflow_auth");
        await client.query("select app_private.register_tenant($1, $2, $3)", [`Ceiling ${n}`, `ceiling${n}@bench.test`, HASH]);
        await client.query("commit");
        if ((n + 1) % 5000 === 0) console.log(`provisioned ${n + 1}`);
      }
    }),
  );
  await Promise.all(clients.map((client) => client.end()));
}

/** 100 registrations through HTTP, one after another, on a gateway started for them. */
async function registrationLatency(checkpoint: number) {
  const gateway = await startServer("src/cli/start.ts", serverEnv, BENCH.httpPort);
  const ms: number[] = [];
  for (let i = 0; i < 100; i++) {
    ms.push(
      await timed(async () => {
        const res = await fetch(`http://localhost:${BENCH.httpPort}/api/auth/register`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: `HTTP ${checkpoint}-${i}`, email: `http${checkpoint}-${i}@bench.test`, password: "bench password" }),
        });
        if (res.status !== 201 && res.status !== 200) throw new Error(`registration answered ${res.status}: ${await res.text()}`);
      }),
    );
  }
  tenants += 100;
  await gateway.stop();
  return percentiles(ms);
}

/** One backend reads every tenant's products (as a long-lived pooled connection ends up doing); its private memory after. */
async function backendTouchingEveryTenant() {
  const client = new pg.Client({ connectionString: database.ownerUrl });
  await client.connect();
  const pid = (await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0].pid;
  const { rows: schemas } = await client.query<{ schema_name: string }>("select schema_name from public.tenants order by id");
  const seconds =
    (await timed(async () => {
      for (const { schema_name } of schemas) await client.query(`select count(*) from ${pg.escapeIdentifier(schema_name)}.products`);
    })) / 1000;
  const rssAnonMb = memoryMb(pid, "RssAnon");
  await client.end();
  return { rssAnonMb, seconds };
}

/** The structure check's time: the fast one `tenants:check` runs (fingerprints), then the full one (`--full`, line by line). */
async function structureCheckTimes(): Promise<{ fastMs: number; fullMs: number }> {
  const fastMs = await timed(() => owner.query("select count(*) from app_private.tenant_structure_drift_fast()"));
  const fullMs = await timed(() => owner.query("select count(*) from app_private.tenant_structure_drift()"));
  return { fastMs, fullMs };
}

/** One row of the affinity table; a figure whose runs had a failed request is none. */
function affinityRow({ memory, reads }: AffinityFigures): string {
  const ratio = (on: number, off: number) => (on / Math.max(1e-9, off)).toFixed(2);
  const [few, every, hot] = reads;
  const readCell = ({ on, off }: (typeof reads)[number]) =>
    `${on.rps} / ${off.rps} (${ratio(on.rps, off.rps)}×), ${on.p99} / ${off.p99} ms`;
  return (
    `| ${tenants} | ${memory.on.mib.toFixed(0)} MiB (${memory.on.backends}) / ${memory.off.mib.toFixed(0)} MiB (${memory.off.backends}), ` +
    `${ratio(memory.on.mib, memory.off.mib)}×; reads ${memory.on.seconds.toFixed(0)} / ${memory.off.seconds.toFixed(0)} s ` +
    `| ${readCell(few)} | ${readCell(every)} ` +
    `| ${hot.on.rps} / ${hot.off.rps}, ${hot.on.hotP99} / ${hot.off.hotP99} ms (${ratio(hot.on.hotP99!, hot.off.hotP99!)}×) |`
  );
}

/** One DDL step (a new column) applied to every tenant in batches of 50, and the drift left after. */
async function ddlStepAcrossTenants(checkpoint: number) {
  await owner.query("select app_private.add_tenant_ddl_step($1, $2)", [
    `ceiling ${checkpoint}: products.zz_ceiling_note_${checkpoint}`,
    `alter table {schema}.products add column zz_ceiling_note_${checkpoint} text;`,
  ]);
  const ms = await timed(() => applyPendingTenantSteps(owner, 50));
  const drift = (await owner.query<{ n: number }>("select count(*)::int as n from app_private.tenant_structure_drift()")).rows[0].n;
  return { seconds: ms / 1000, drift };
}

/** Size in bytes and number of files of the data folder. */
function dataFolder() {
  const bytes = Number(execFileSync("du", ["-sb", dataDir], { encoding: "utf8" }).split("\t")[0]);
  const files = Number(execFileSync("sh", ["-c", `find ${JSON.stringify(dataDir)} -type f | wc -l`], { encoding: "utf8" }).trim());
  return { bytes, files };
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return Math.round((performance.now() - started) * 10) / 10;
}

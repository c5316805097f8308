import fs from "node:fs/promises";
import pg from "pg";
import { readDatabaseConfig } from "../src/config/database.ts";
import { prepareDatabase } from "../src/db/database.ts";
import { temporaryDataDir } from "../src/db/embedded.ts";
import { LOAD_RUN_LIMITS, readBenchConfig } from "./config.ts";
import { benchOptions } from "./options.ts";
import { contenders, decompose, decompositionTable, READ_DOCUMENT, trustedDocument } from "./additions.ts";
import { endUnlessFailed, startServer } from "./measure.ts";

benchOptions(
  {
    usage: "npm run bench:additions",
    help: "Measure vanilla PostGraphile, then each of the gateway's additions in turn, on a fresh embedded PostgreSQL with 50 tenants (settings: BENCH_SECONDS, BENCH_ROUNDS), and write their table in docs/benchmarks.md.",
  },
  {},
);
const BENCH = readBenchConfig(process.env, 54396);

/**
 * `npm run bench:additions`: the decomposition alone (vanilla PostGraphile, then each addition),
 * on a fresh embedded PostgreSQL with 50 tenants of 20 products. `npm run bench` runs it too.
 */
const SECONDS = BENCH.seconds;
const ROUNDS = BENCH.rounds;
const TENANTS = 50;

const dataDir = await temporaryDataDir("stoflow-decompose-");
const database = await prepareDatabase(
  { ...readDatabaseConfig({ STOFLOW_DATA_DIR: dataDir, STOFLOW_PG_PORT: String(BENCH.pgPort) }), includeCurrentMigration: true },
  () => {},
);
const serverEnv = {
  DATABASE_URL: database.appUrl,
  JWT_SECRET: "bench-secret-that-is-at-least-32-characters",
  BCRYPT_COST: "4",
  DATABASE_POOL_SIZE: "16",
  GRAPHILE_ENV: "production",
  STOFLOW_DATA_DIR: dataDir,
  ...LOAD_RUN_LIMITS,
  HTTP_CLIENT_CONCURRENCY: "100000",
};
const gateway = await startServer("src/cli/start.ts", serverEnv, 3909);
const tokens: string[] = [];
for (let i = 0; i < TENANTS; i++) {
  const res = await fetch("http://localhost:3909/api/auth/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: `Bench ${i}`, email: `bench${i}@bench.test`, password: "bench password", subscription_tier: "premium" }),
  });
  tokens.push(((await res.json()) as { access_token: string }).access_token);
}
await gateway.stop();
const owner = new pg.Pool({ connectionString: database.ownerUrl, max: 2 });
for (let t = 1; t <= TENANTS; t++) {
  await owner.query(
    `insert into client_${t}.products (sku, title, price) select 'P-' || lpad(i::text, 3, '0'), 'Item ' || i, i from generate_series(1, 20) i`,
  );
}
await owner.end();

const trusted = await trustedDocument(dataDir, READ_DOCUMENT);
const results = await decompose(
  contenders(serverEnv, trusted.file, trusted.body),
  {
    seconds: SECONDS,
    connections: 32,
    request: (n) => ({
      method: "POST",
      path: "/graphql",
      headers: { "content-type": "application/json", authorization: `Bearer ${tokens[n % tokens.length]}` },
    }),
  },
  JSON.stringify({ query: READ_DOCUMENT }),
  ROUNDS,
);
console.log(decompositionTable(results).join("\n"));
await database.stop();
await fs.rm(dataDir, { recursive: true, force: true });
endUnlessFailed();

import fs from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { readDatabaseConfig } from "../src/config/database.ts";
import { prepareDatabase } from "../src/db/database.ts";
import { temporaryDataDir } from "../src/db/embedded.ts";
import { LOAD_RUN_LIMITS, readBenchConfig } from "./config.ts";
import { benchOptions } from "./options.ts";
import { load, startServer } from "./measure.ts";

benchOptions(
  {
    usage: "npm run bench:profile",
    help: "Profile the gateway's CPU on the bench's tenant read for 10 s, on a fresh embedded PostgreSQL, and print its self time by package.",
  },
  {},
);
const BENCH = readBenchConfig(process.env, 54397);

/**
 * `npm run bench:profile`: where the gateway spends its CPU on the tenant read of the bench.
 * Runs the gateway under --cpu-prof for 10 s of reads, then sums self time by package.
 */
const dataDir = await temporaryDataDir("stoflow-profile-");
const profileDir = path.join(dataDir, "profile");
const database = await prepareDatabase(
  { ...readDatabaseConfig({ STOFLOW_DATA_DIR: dataDir, STOFLOW_PG_PORT: String(BENCH.pgPort) }), includeCurrentMigration: true },
  () => {},
);
const env = {
  DATABASE_URL: database.appUrl,
  JWT_SECRET: "profile-secret-that-is-at-least-32-chars",
  BCRYPT_COST: "4",
  DATABASE_POOL_SIZE: "16",
  GRAPHILE_ENV: "production",
  ...LOAD_RUN_LIMITS,
  NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}`,
};
const gateway = await startServer("src/cli/start.ts", env, 3905);
const tokens: string[] = [];
for (let i = 0; i < 20; i++) {
  const res = await fetch("http://localhost:3905/api/auth/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      name: `Profile ${i}`,
      email: `profile${i}@bench.test`,
      password: "profile password",
      subscription_tier: "premium",
    }),
  });
  tokens.push(((await res.json()) as { access_token: string }).access_token);
}
const owner = new pg.Pool({ connectionString: database.ownerUrl });
for (let t = 1; t <= 20; t++)
  await owner.query(`insert into client_${t}.products (sku, title, price) select 'P-' || i, 'Item', i from generate_series(1, 20) i`);
await owner.end();
const body = JSON.stringify({ query: "{ products(first: 20, orderBy: SKU_ASC) { nodes { sku title price } } }" });
const result = await load({
  url: "http://localhost:3905",
  seconds: 10,
  connections: 32,
  request: (n) => ({
    method: "POST",
    path: "/graphql",
    headers: { "content-type": "application/json", authorization: `Bearer ${tokens[n % 20]}` },
    body,
  }),
});
await gateway.stop();
await database.stop();

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}
const file = (await fs.readdir(profileDir)).find((f) => f.endsWith(".cpuprofile"))!;
const profile = JSON.parse(await fs.readFile(path.join(profileDir, file), "utf8")) as {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
};
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const byPackage = new Map<string, number>();
profile.samples.forEach((id, i) => {
  const { url, functionName } = nodes.get(id)!.callFrame;
  const where =
    /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ??
    (url.includes("/src/")
      ? "stoflow src/"
      : url.startsWith("node:")
        ? `node: ${url.slice(5).split("/")[0]}`
        : functionName.startsWith("(")
          ? functionName
          : `native ${functionName || "(anonymous)"}`);
  byPackage.set(where, (byPackage.get(where) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const total = [...byPackage.values()].reduce((a, b) => a + b, 0);
const rows = [...byPackage.entries()]
  .sort((a, b) => b[1] - a[1])
  .slice(0, 18)
  .map(([where, us]) => `| ${where} | ${((100 * us) / total).toFixed(1)}% |`);
console.log(`Gateway CPU profile under the read load (${result.rps} req/s, 32 clients, 10 s), self time by package:\n`);
console.log(["| where | share of gateway CPU |", "|---|---|", ...rows].join("\n"));
await fs.rm(dataDir, { recursive: true, force: true });

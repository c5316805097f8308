import fs from "node:fs/promises";
import { readDatabaseConfig } from "../src/config/database.ts";
import { readServerConfig } from "../src/config/server.ts";
import { prepareDatabase } from "../src/db/database.ts";
import { temporaryDataDir } from "../src/db/embedded.ts";
import { startGateway } from "../src/server.ts";
import { GENEROUS_LIMITS } from "./helpers/limits.ts";

/**
 * `npm run soak`: mixed traffic (reads, writes, sessions, logins, refreshes) across many tenants
 * for SOAK_SECONDS (default 120), against a fresh embedded PostgreSQL. Heap is measured after a
 * warm-up and at the end (after a forced GC); the run fails on any error or on heap growth above
 * SOAK_MAX_HEAP_GROWTH_MB (default 40).
 */
const seconds = Number(process.env.SOAK_SECONDS ?? 120);
const maxGrowthMb = Number(process.env.SOAK_MAX_HEAP_GROWTH_MB ?? 40);
const TENANTS = 40;
const CONCURRENCY = 16;

const dataDir = await temporaryDataDir("stoflow-soak-");
const database = await prepareDatabase(
  {
    ...readDatabaseConfig({ STOFLOW_DATA_DIR: dataDir, STOFLOW_PG_PORT: process.env.SOAK_PG_PORT ?? "54399" }),
    includeCurrentMigration: true,
  },
  () => {},
);
const gateway = await startGateway(
  database.appUrl,
  readServerConfig({
    PORT: "0",
    BCRYPT_COST: "4",
    JWT_SECRET: "soak-secret-that-is-at-least-32-characters",
    GRAPHQL_WATCH: "false",
    ...GENEROUS_LIMITS,
  }),
);

async function call(method: string, route: string, body?: unknown, token?: string): Promise<any> {
  const response = await fetch(gateway.url + route, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = response.status === 204 ? {} : await response.json();
  if (response.status >= 400 || json.errors)
    throw new Error(`${method} ${route}: ${response.status} ${JSON.stringify(json).slice(0, 200)}`);
  return json;
}
const gql = (token: string, query: string, variables = {}) => call("POST", "/graphql", { query, variables }, token);

interface Tenant {
  email: string;
  access: string;
  refresh: string;
  skus: number;
}
const tenants: Tenant[] = [];
for (let i = 0; i < TENANTS; i++) {
  const email = `soak${i}@soak.test`;
  const r = await call("POST", "/api/auth/register", { name: `Soak ${i}`, email, password: "soak password", subscription_tier: "premium" });
  tenants.push({ email, access: r.access_token, refresh: r.refresh_token, skus: 0 });
}

const operations: Array<(t: Tenant) => Promise<unknown>> = [
  (t) => gql(t.access, "{ products(first: 20, orderBy: CREATED_AT_DESC) { totalCount nodes { sku title price } } }"),
  (t) => gql(t.access, "{ products { aggregates { sum { price } } } currentTenantUsage { activeProducts } }"),
  (t) =>
    gql(t.access, "mutation($p: ProductInput!) { createProduct(input: { product: $p }) { product { sku } } }", {
      p: { sku: `SKU-${++t.skus}`, title: "Soak item", price: "12.50" },
    }),
  (t) =>
    t.skus > 0
      ? gql(t.access, 'mutation($s: String!) { updateProduct(input: { sku: $s, patch: { price: "13.00" } }) { product { sku } } }', {
          s: `SKU-${t.skus}`,
        })
      : Promise.resolve(),
  (t) => call("GET", "/api/auth/session", undefined, t.access),
  async (t) => {
    const r = await call("POST", "/api/auth/refresh", { refresh_token: t.refresh });
    [t.access, t.refresh] = [r.access_token, r.refresh_token];
  },
  (t) => call("POST", "/api/auth/login", { email: t.email, password: "soak password" }),
];

let requests = 0;
const errors: string[] = [];
/** Each worker owns its tenants, as each seller's browser owns its tokens (no shared refresh token). */
async function worker(index: number, until: number) {
  const mine = tenants.filter((_, i) => i % CONCURRENCY === index);
  while (Date.now() < until) {
    const tenant = mine[Math.floor(Math.random() * mine.length)];
    const operation = operations[Math.floor(Math.random() * operations.length)];
    await operation(tenant).then(
      () => requests++,
      (e: Error) => errors.push(e.message),
    );
  }
}
const heapMb = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
};
const run = (ms: number) => Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => worker(i, Date.now() + ms)));

await run(Math.min(15, seconds / 4) * 1000);
const [heapStart, rssStart, requestsAtStart] = [heapMb(), process.memoryUsage().rss / 2 ** 20, requests];
const started = Date.now();
await run(seconds * 1000);
const [heapEnd, rssEnd] = [heapMb(), process.memoryUsage().rss / 2 ** 20];
const measured = requests - requestsAtStart;
console.log(
  JSON.stringify(
    {
      seconds,
      tenants: TENANTS,
      concurrency: CONCURRENCY,
      requests: measured,
      requestsPerSecond: Math.round(measured / ((Date.now() - started) / 1000)),
      errors: errors.length,
      firstErrors: errors.slice(0, 3),
      heapMb: { start: +heapStart.toFixed(1), end: +heapEnd.toFixed(1), growth: +(heapEnd - heapStart).toFixed(1), bound: maxGrowthMb },
      rssMb: { start: Math.round(rssStart), end: Math.round(rssEnd) },
    },
    null,
    2,
  ),
);
await gateway.close();
await database.stop();
await fs.rm(dataDir, { recursive: true, force: true });
if (errors.length > 0 || heapEnd - heapStart > maxGrowthMb) process.exitCode = 1;

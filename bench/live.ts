import fs from "node:fs";
import pg from "pg";
import WebSocket from "ws";
import { readDatabaseConfig } from "../src/config/database.ts";
import { prepareDatabase } from "../src/db/database.ts";
import { temporaryDataDir } from "../src/db/embedded.ts";
import { integer } from "../src/config/fields.ts";
import { LOAD_RUN_LIMITS, readBenchConfig } from "./config.ts";
import { benchOptions } from "./options.ts";
import { RENEW_MS } from "../src/live/listened-tenants.ts";
import { compareAlternately, cpuMicros, endUnlessFailed, figureOr, loadWithCpu, memoryMb, startServer } from "./measure.ts";

/**
 * `npm run bench:live`: live updates on one gateway process, every figure measured in this run.
 * Subscribers (raw graphql-ws sockets from this process) spread over the tenants; writes at a set
 * pace through POST /graphql; commit → client latency per delivery; the triggers' cost to writers
 * (on vs off, ABAB); the time from logout to the socket closing; deliveries after the LISTEN
 * connection is killed. A row with an error or a missing delivery fails the run: no figure.
 * Writes its section of docs/benchmarks.md.
 */
const HELP = {
  usage: "npm run bench:live",
  help: "Measure live updates on one gateway (settings: BENCH_LIVE_SUBSCRIBERS, BENCH_LIVE_PER_SOCKET, BENCH_LIVE_TENANTS, BENCH_LIVE_WRITES, BENCH_SECONDS, BENCH_ROUNDS) and write its section of docs/benchmarks.md.",
};
benchOptions(HELP, {});

const BENCH = readBenchConfig(process.env, 54397);
const TENANTS = integer(process.env, "BENCH_LIVE_TENANTS", 100, 1, 100_000);
const STEPS = (process.env.BENCH_LIVE_SUBSCRIBERS ?? "100,1000,10000").split(",").map(Number);
const WRITES_PER_SECOND = integer(process.env, "BENCH_LIVE_WRITES", 50, 1, 10_000);
/** Subscriptions each socket holds (graphql-ws multiplexes them): 20,000 subscribers fit in the open files of 10,000 sockets. */
const PER_SOCKET = integer(process.env, "BENCH_LIVE_PER_SOCKET", 1, 1, 10);
const PORT = 3951;
const URL_ = `http://localhost:${PORT}`;
const JWT_SECRET = "bench-secret-that-is-at-least-32-characters";
const SECTION = "## Live updates (`npm run bench:live`)";

const dataDir = await temporaryDataDir("stoflow-bench-live-");
const database = await prepareDatabase(
  { ...readDatabaseConfig({ STOFLOW_DATA_DIR: dataDir, STOFLOW_PG_PORT: String(BENCH.pgPort) }), includeCurrentMigration: true },
  () => {},
);
const owner = new pg.Pool({ connectionString: database.ownerUrl, max: 4 });
owner.on("error", () => undefined); // the cluster stops under it when a run fails
const serverEnv = {
  DATABASE_URL: database.appUrl,
  JWT_SECRET,
  BCRYPT_COST: "4",
  GRAPHILE_ENV: "production",
  STOFLOW_DATA_DIR: dataDir,
  ...LOAD_RUN_LIMITS,
  // Every subscriber and writer is this one process on one address: the per-address limits are not what is measured.
  HTTP_CLIENT_CONCURRENCY: "100000",
  HTTP_CLIENT_CONNECTIONS: "0",
  LIVE_SOCKETS_PER_ADDRESS: "1000000",
  LIVE_SOCKETS_PER_TENANT: "1000000",
  LIVE_MAX_SOCKETS: "1000000",
  // 10,000 subscribers connect in seconds: the process-wide pace of sign-ins is not what is measured.
  LIVE_STARTS_PER_SECOND: "1000000",
};
const gateway = await startServer("src/cli/start.ts", serverEnv, PORT);
const pid = gateway.process.pid!;
// A run that fails (a missing delivery is no figure) leaves no server behind.
process.on("exit", () => gateway.process.kill());
process.on("uncaughtException", (error) => {
  console.error(error);
  void database.stop().finally(() => process.exit(1));
});

async function post(path: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const res = await fetch(URL_ + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const parsed = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  if (res.status >= 300 || parsed.errors) throw new Error(`${path}: ${res.status} ${text.slice(0, 300)}`);
  return parsed;
}

const tokens: string[] = [];
for (let i = 0; i < TENANTS; i++) {
  const body = { name: `Live ${i}`, email: `live${i}@bench.test`, password: "bench password", subscription_tier: "enterprise" };
  tokens.push((await post("/api/auth/register", body)).access_token as string);
}
console.log(`${TENANTS} tenants registered`);

/** A socket of tenant `tenant`, with PER_SOCKET productChanged subscriptions (each a subscriber). */
interface Subscriber {
  tenant: number;
  socket: WebSocket;
  closedAt?: number;
}

const SUBSCRIBE = Array.from({ length: PER_SOCKET }, (_, i) =>
  JSON.stringify({ id: String(i + 1), type: "subscribe", payload: { query: "subscription { productChanged { event sku sequence } }" } }),
);

function subscribe(tenant: number, onEvent: (tenant: number, sku: string | null, event: string) => void): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://localhost:${PORT}/graphql`, "graphql-transport-ws");
    const subscriber: Subscriber = { tenant, socket };
    socket.once("error", reject);
    socket.once("close", () => (subscriber.closedAt = performance.now()));
    socket.once("open", () =>
      socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${tokens[tenant]}` } })),
    );
    socket.on("message", (data: Buffer) => {
      const message = JSON.parse(data.toString()) as {
        type: string;
        payload?: { data?: { productChanged: { sku: string | null; event: string } } };
      };
      if (message.type === "connection_ack") {
        for (const subscribe of SUBSCRIBE) socket.send(subscribe);
        resolve(subscriber);
      } else if (message.type === "next") {
        const change = message.payload!.data!.productChanged;
        onEvent(tenant, change.sku, change.event);
      } else if (message.type === "error") reject(new Error(JSON.stringify(message)));
    });
  });
}

/** One document, the SKU in a variable: a document the server knows after its first use. */
const CREATE = `mutation($sku: String!) { createProduct(input: { product: { sku: $sku, title: "Live", price: "1.00" } }) { product { sku } } }`;

/** Writes at WRITES_PER_SECOND for `seconds`, a new product each, tenants in turn; returns when each was sent. */
async function writeAtPace(seconds: number, label: string): Promise<Map<string, { tenant: number; sentAt: number }>> {
  const sent = new Map<string, { tenant: number; sentAt: number }>();
  const total = seconds * WRITES_PER_SECOND;
  const started = performance.now();
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / WRITES_PER_SECOND;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
    const tenant = i % TENANTS;
    const sku = `${label}-T${tenant}-${i}`;
    sent.set(sku, { tenant, sentAt: performance.now() });
    writes.push(post("/graphql", { query: CREATE, variables: { sku } }, tokens[tenant]));
  }
  await Promise.all(writes);
  return sent;
}

/** Deliveries the writes `sent` owe the subscribers now connected: one per subscription of the written tenant. */
function expectedDeliveries(sent: Map<string, { tenant: number }>): number {
  const perTenant = new Map<number, number>();
  for (const s of subscribers) perTenant.set(s.tenant, (perTenant.get(s.tenant) ?? 0) + PER_SOCKET);
  return [...sent.values()].reduce((sum, w) => sum + (perTenant.get(w.tenant) ?? 0), 0);
}

const quantile = (sorted: number[], q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const rows: string[] = [];
const report = (line: string) => {
  console.log(line);
  rows.push(line);
};

// 1. Subscribers per process, latency commit → client, cross-tenant deliveries.
report(
  "| Subscribers (sockets) | Tenants | Connect (s) | Gateway RSS +MiB (KiB each) | Gateway CPU per delivery, writes included (µs) | Deliveries (expected) | Write → client p50 / p95 / p99 (ms) | Cross-tenant |",
);
report("|---|---|---|---|---|---|---|---|");
const subscribers: Subscriber[] = [];
for (const step of STEPS) {
  const received: { tenant: number; sku: string | null; at: number }[] = [];
  const onEvent = (tenant: number, sku: string | null) => received.push({ tenant, sku, at: performance.now() });
  for (const s of subscribers) s.socket.removeAllListeners("message");
  for (const s of subscribers) {
    s.socket.on("message", (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { type: string; payload?: { data?: { productChanged: { sku: string | null } } } };
      if (message.type === "next") onEvent(s.tenant, message.payload!.data!.productChanged.sku);
    });
  }
  const rssBefore = memoryMb(pid);
  const sockets = Math.ceil(step / PER_SOCKET);
  const added = (sockets - subscribers.length) * PER_SOCKET;
  const connectStarted = performance.now();
  while (subscribers.length < sockets) {
    const batch = Array.from({ length: Math.min(200, sockets - subscribers.length) }, (_, i) =>
      subscribe((subscribers.length + i) % TENANTS, onEvent),
    );
    subscribers.push(...(await Promise.all(batch)));
  }
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  await settle(1_000);
  const rssAfter = memoryMb(pid);
  const cpuBefore = cpuMicros(pid);
  const sent = await writeAtPace(8, `S${step}`);
  await settle(2_000);
  const expected = expectedDeliveries(sent);
  const crossTenant = received.filter((r) => r.sku !== null && sent.get(r.sku)?.tenant !== r.tenant).length;
  const latencies = received.flatMap((r) => (r.sku && sent.has(r.sku) ? [r.at - sent.get(r.sku)!.sentAt] : [])).sort((a, b) => a - b);
  const cpuPerDelivery = Math.round((cpuMicros(pid) - cpuBefore) / Math.max(1, received.length));
  if (received.length !== expected || crossTenant !== 0) {
    throw new Error(`${step} subscribers: ${received.length} deliveries of ${expected} expected, ${crossTenant} cross-tenant: no figure`);
  }
  report(
    `| ${sockets * PER_SOCKET} (${sockets}) | ${TENANTS} | ${connectSeconds.toFixed(1)} | ${(rssAfter - rssBefore).toFixed(0)} (${Math.round(((rssAfter - rssBefore) * 1024) / Math.max(1, added))}) | ${cpuPerDelivery} | ${received.length} (${expected}) | ${quantile(latencies, 0.5)} / ${quantile(latencies, 0.95)} / ${quantile(latencies, 0.99)} | ${crossTenant} |`,
  );
}

// 2. After the LISTEN connection is killed mid-stream: every subscriber gets RESYNC, later writes all arrive.
const superuser = new pg.Client({ connectionString: database.superuserUrl });
await superuser.connect();
let resyncs = 0;
let afterKill = 0;
for (const s of subscribers) {
  s.socket.removeAllListeners("message");
  s.socket.on("message", (data: Buffer) => {
    const change = (JSON.parse(data.toString()) as { payload?: { data?: { productChanged: { event: string } } } }).payload?.data
      ?.productChanged;
    if (change?.event === "RESYNC") resyncs += 1;
    else if (change) afterKill += 1;
  });
}
await superuser.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'stoflow listen'");
await settle(3_000);
const resent = await writeAtPace(2, "K");
await settle(2_000);
const expectedAfter = expectedDeliveries(resent);
const subscriptions = subscribers.length * PER_SOCKET;
if (resyncs !== subscriptions || afterKill !== expectedAfter) {
  throw new Error(`after the LISTEN kill: ${resyncs} RESYNC of ${subscriptions}, ${afterKill} deliveries of ${expectedAfter}: no figure`);
}
const killRow = `LISTEN connection killed with ${subscriptions} subscribers: ${resyncs} RESYNC events (one each), then ${afterKill} of ${expectedAfter} deliveries.`;
console.log(killRow);
await superuser.end();

// 3. Logout → socket closed, for 20 sessions.
const closeMs: number[] = [];
for (let i = 0; i < 20; i++) {
  const login = await post("/api/auth/login", { email: `live${i % TENANTS}@bench.test`, password: "bench password" });
  const token = login.access_token as string;
  tokens.push(token);
  const s = await subscribe(tokens.length - 1, () => undefined);
  const started = performance.now();
  await fetch(`${URL_}/api/auth/logout`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  while (s.closedAt === undefined) await settle(5);
  closeMs.push(s.closedAt - started);
}
closeMs.sort((a, b) => a - b);
const revocationRow = `Logout → socket closed (4403), 20 sessions: p50 ${quantile(closeMs, 0.5)} ms, max ${Math.round(closeMs.at(-1)!)} ms.`;
console.log(revocationRow);
for (const s of subscribers) s.socket.terminate();

// 4. The triggers' cost to writers: updates with the live triggers on vs off, alternately (ABAB).
for (let t = 1; t <= TENANTS; t++)
  await owner.query(`insert into client_${t}.products (sku, title, price) values ('HOT', 'Hot', 1) on conflict do nothing`);
const setTriggers = async (on: boolean) => {
  const { rows: schemas } = await owner.query<{ s: string }>(
    "select schema_name as s from app_private.tenant_schemas where schema_name <> 'tenant_template'",
  );
  for (const { s } of schemas) await owner.query(`alter table ${s}.products ${on ? "enable" : "disable"} trigger _900_live`);
};
const UPDATE = JSON.stringify({
  query: `mutation { updateProduct(input: { sku: "HOT", patch: { stockQuantity: 2 } }) { product { sku } } }`,
});
const writeLoad = (on: boolean) => async () => {
  await setTriggers(on);
  return loadWithCpu(
    {
      url: URL_,
      seconds: BENCH.seconds,
      connections: 16,
      // Each request another tenant's row: writers in general, not one row's lock.
      request: (n) => ({
        method: "POST",
        path: "/graphql",
        headers: { "content-type": "application/json", authorization: `Bearer ${tokens[n % TENANTS]}` },
        body: UPDATE,
      }),
    },
    pid,
  );
};
/** Triggers on vs off (ABAB), `who` the writers measured: one line, no figure when a request failed. */
const triggersRow = async (who: string) => {
  const triggers = await compareAlternately(writeLoad(true), writeLoad(false), BENCH.rounds);
  const [on, off] = triggers.last;
  const ratio = figureOr(`writes (${who})`, triggers.errors, `${triggers.rpsRatio.toFixed(2)}×`);
  const row = `Writes (updateProduct of one product per tenant, the tenants in turn, 16 connections) of ${who}, live triggers on vs off: ${on.rps} vs ${off.rps} req/s, median ratio over ${BENCH.rounds} ABAB rounds ${ratio}.`;
  console.log(row);
  return row;
};
// Nobody subscribes any more: once the gateway's renewal (30 s) has told the database, no writer notifies.
await settle(RENEW_MS + 1_000);
const listenersLeft = (await owner.query<{ n: number }>("select count(*)::int as n from app_private.live_listeners")).rows[0].n;
if (listenersLeft > 0) throw new Error(`${listenersLeft} tenants still listened for after the renewal: no figure for unlistened writers`);
const quietRow = await triggersRow("tenants nobody subscribes to");
// One subscriber per tenant: every write notifies (and takes NOTIFY's lock at commit).
const listening = await Promise.all(Array.from({ length: TENANTS }, (_, t) => subscribe(t, () => undefined)));
await settle(1_000);
const listenedRow = await triggersRow("tenants with a subscriber each");
for (const s of listening) s.socket.terminate();

await gateway.stop();
await owner.end();
await database.stop();
endUnlessFailed();

const docs = fs.readFileSync("docs/benchmarks.md", "utf8");
// The run's section replaces the last one; what follows it from the next "## " heading (written by hand) is kept.
const start = docs.indexOf(SECTION);
const kept = start < 0 ? docs.trimEnd() : docs.slice(0, start).trimEnd();
const next = start < 0 ? -1 : docs.indexOf("\n## ", start + SECTION.length);
const after = next < 0 ? "" : docs.slice(next);
const section = [
  SECTION,
  "",
  `One gateway process (default settings, LIVE_MERGE_MS 150) on this machine (2 cores, the subscribers and writers in one Node process beside it), ${TENANTS} tenants, ${PER_SOCKET} subscription(s) per socket, ${WRITES_PER_SECOND} writes a second for 8 s per step (createProduct through POST /graphql, a new SKU each). "Write → client": from the mutation being sent to the event's arrival (it includes the mutation's own time and the merge window). Subscribers select \`event sku sequence\` (no row read at delivery).`,
  "",
  ...rows,
  "",
  `- ${killRow}`,
  `- ${revocationRow}`,
  `- ${quietRow}`,
  `- ${listenedRow}`,
  "",
].join("\n");
fs.writeFileSync("docs/benchmarks.md", `${kept}\n\n${section}${after}`);
console.log("docs/benchmarks.md: live updates section written");

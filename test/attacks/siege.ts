import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import http from "node:http";
import parsePrometheus from "parse-prometheus-text-format";
import type { CrowdReport, Shape } from "./crowd.ts";

/**
 * What the attack tests of many addresses measure while a crowd is at work (test/attacks/crowd.ts
 * in a process of its own): /health on both ports from a probe process (health-probe.ts), a
 * signed-in tenant's request on a new connection every 100 ms from this process, and the server's
 * RSS; then how long its RSS takes to come back.
 */
export interface Siege {
  crowd: CrowdReport;
  /** /health latencies on the probe port and on the API's port (Infinity: failed). */
  probePort: number[];
  mainPort: number[];
  /** The same probe of a server nobody attacks (control-server.ts): what the busy machine alone adds. */
  control: number[];
  /** The tenant's request: latencies (Infinity: not a 200 within 5 s). */
  tenant: number[];
  rss: { before: number; peak: number; after: number; backInSeconds: number };
  /** The server's event-loop delay over the measure (ms): what it adds itself, apart from the machine. */
  loopDelay: { p99: number; max: number };
}

/** Probes every 25 ms: about 300 samples in 8 s, so that a p99 is not one sample. */
const PROBE_INTERVAL_MS = 25;
/**
 * The crowd runs on this machine, beside the server, at a lower priority: the server's CPU is not
 * the botnet's (which runs elsewhere), and the crowd still gets every core the server leaves.
 */
const ATTACKER_NICE = 10;

/** The p-th percentile (0–1) of `values`. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Resident memory of a process, in MB. */
export function rssOf(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

/** A control-server.ts in a process of its own: its URL, and how to stop it. */
export async function startControlServer(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, ["test/attacks/control-server.ts"], { stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve) => child.stdout.once("data", (chunk) => resolve(String(chunk).trim())));
  return { url, stop: () => child.kill() };
}

/** Runs `node <script> <args>` (at `nice`, 0–19) and resolves with what it printed, parsed as JSON. */
function runJson<T>(script: string, args: Array<string | number>, nice = 0): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args.map(String)], { stdio: ["ignore", "pipe", "inherit"] });
    if (nice > 0) os.setPriority(child.pid!, nice);
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.once("error", reject);
    child.once("close", (code) => {
      try {
        resolve(JSON.parse(output) as T);
      } catch {
        reject(new Error(`${script} printed no result (exit code ${code})`));
      }
    });
  });
}

/** /health latencies from a probe process of its own, for `ms`; `fresh`: a new connection for each probe, as a kubelet's. */
async function probeHealth(url: string, ms: number, fresh = false): Promise<number[]> {
  const latencies = await runJson<Array<number | null>>("test/attacks/health-probe.ts", [
    url,
    ms,
    PROBE_INTERVAL_MS,
    fresh ? "fresh" : "kept",
  ]);
  return latencies.map((latency) => latency ?? Number.POSITIVE_INFINITY);
}

/** One request on a new connection: its latency when it is answered `expected` within 5 s, else Infinity. */
export function timedRequest(url: string, options: http.RequestOptions, body: string | undefined, expected = 200): Promise<number> {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = http.request(url, { agent: false, ...options }, (res) => {
      res.resume().once("end", () => resolve(res.statusCode === expected ? performance.now() - started : Number.POSITIVE_INFINITY));
    });
    req.setTimeout(5_000, () => req.destroy());
    req.once("error", () => resolve(Number.POSITIVE_INFINITY));
    req.end(body);
  });
}

/** A signed-in tenant's query every 100 ms for `ms`, each on a new connection. */
async function tenantRequests(url: string, token: string, ms: number): Promise<number[]> {
  const body = JSON.stringify({ query: "{ products(first: 5) { totalCount nodes { sku } } }" });
  const headers = { "content-type": "application/json", authorization: `Bearer ${token}` };
  const latencies: number[] = [];
  for (const stopAt = Date.now() + ms; Date.now() < stopAt;) {
    latencies.push(await timedRequest(`${url}/graphql`, { method: "POST", headers }, body));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return latencies;
}

/** The most RSS seen every 250 ms until `done` settles. */
async function peakRss(pid: number, done: Promise<unknown>): Promise<number> {
  let peak = rssOf(pid);
  let over = false;
  void done.finally(() => (over = true));
  while (!over) {
    peak = Math.max(peak, rssOf(pid));
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return peak;
}

/** Seconds until the RSS of `pid` is within 20 % of `before` (checked every 500 ms, at most `limitSeconds`). */
async function rssBack(pid: number, before: number, limitSeconds: number): Promise<{ after: number; backInSeconds: number }> {
  const started = Date.now();
  for (;;) {
    const after = rssOf(pid);
    const seconds = (Date.now() - started) / 1000;
    if (after <= before * 1.2 || seconds >= limitSeconds) return { after, backInSeconds: seconds };
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export interface Target {
  url: string;
  probeUrl: string;
  pid: number;
  token: string;
  /** A control-server.ts of its own. */
  controlUrl: string;
}

/** A crowd of the shape, run beside the first from other addresses (127.2.x.y). */
export interface SecondCrowd {
  shape: Shape;
  addresses: number;
  perAddress: number;
}

/**
 * Runs the crowd `shape` (`addresses` × `perAddress` sockets, `perSecond` new connections at most)
 * against `target` for `rampMs` + `measureMs`, measuring during the last `measureMs`, and
 * `crowd.beside` with it. Then waits up to 60 s for the RSS to come back.
 * `atProbePort`: the crowd connects to the probe port instead of the API's.
 */
export async function siege(
  target: Target,
  shape: Shape | undefined,
  crowd: { addresses: number; perAddress: number; perSecond: number; reconnectMs?: number; beside?: SecondCrowd },
  { rampMs = 4_000, measureMs = 8_000, atProbePort = false }: { rampMs?: number; measureMs?: number; atProbePort?: boolean } = {},
): Promise<Siege> {
  const before = rssOf(target.pid);
  const port = new URL(atProbePort ? target.probeUrl : target.url).port;
  const run = (crowdShape: Shape, addresses: number, perAddress: number, network: number) =>
    runJson<CrowdReport>(
      "test/attacks/crowd.ts",
      [crowdShape, port, addresses, perAddress, crowd.perSecond, rampMs + measureMs, crowd.reconnectMs ?? 0, network],
      ATTACKER_NICE,
    );
  const none = Promise.resolve({ opened: 0, closed: 0, peakOpen: 0 });
  const { beside } = crowd;
  const attack = Promise.all([
    shape ? run(shape, crowd.addresses, crowd.perAddress, 1) : none,
    beside ? run(beside.shape, beside.addresses, beside.perAddress, 2) : none,
  ]).then(([first, second]) => ({
    opened: first.opened + second.opened,
    closed: first.closed + second.closed,
    peakOpen: first.peakOpen + second.peakOpen,
  }));
  await new Promise((resolve) => setTimeout(resolve, rampMs));
  await loopDelay(target.probeUrl); // prom-client measures the delay anew after each scrape
  const measured = Promise.all([
    probeHealth(target.probeUrl, measureMs, true),
    probeHealth(target.url, measureMs),
    probeHealth(target.controlUrl, measureMs),
    tenantRequests(target.url, target.token, measureMs),
  ]);
  const [peak, [probePort, mainPort, control, tenant]] = await Promise.all([peakRss(target.pid, measured), measured]);
  const delay = await loopDelay(target.probeUrl);
  return {
    crowd: await attack,
    probePort,
    mainPort,
    control,
    tenant,
    loopDelay: delay,
    rss: { before, peak, ...(await rssBack(target.pid, before, 60)) },
  };
}

/** The server's event-loop delay (p99 and max, ms) since the last scrape. */
async function loopDelay(probeUrl: string): Promise<{ p99: number; max: number }> {
  const text = await (await fetch(`${probeUrl}/metrics`)).text();
  const seconds = (name: string) => Number(new RegExp(`^stoflow_process_nodejs_eventloop_lag_${name}_seconds (\\S+)`, "m").exec(text)?.[1]);
  return { p99: seconds("p99") * 1000, max: seconds("max") * 1000 };
}

/** The server's own counts of sockets, bodies and new documents (stoflow_http_sockets, _body_bytes, _bodies_refused, stoflow_graphql_new_documents), from its probe port. */
export async function transportCounts(probeUrl: string): Promise<Record<string, number>> {
  const families = parsePrometheus(await (await fetch(`${probeUrl}/metrics`)).text());
  const counts: Record<string, number> = {};
  for (const family of families.filter((f) =>
    /^stoflow_(http_(sockets|body_bytes|bodies_refused|requests_deferred)|graphql_new_documents)$/.test(f.name),
  )) {
    for (const metric of family.metrics) {
      const labels = Object.values(metric.labels ?? {}).join(".");
      counts[`${family.name.replace(/^stoflow_(http_)?/, "")}.${labels}`] = Number((metric as { value: string }).value);
    }
  }
  return counts;
}

/** The figures of a siege in one line, for docs/security.md. */
export function describeSiege({ crowd, probePort, mainPort, control, tenant, rss, loopDelay }: Siege): string {
  const failed = (values: number[]) => values.filter((value) => !Number.isFinite(value)).length;
  const ms = (values: number[]) =>
    `p50 ${percentile(values, 0.5).toFixed(0)} / p99 ${percentile(values, 0.99).toFixed(0)} ms${failed(values) ? ` (${failed(values)} failed)` : ""}`;
  return [
    `crowd: ${crowd.opened} connections (${crowd.peakOpen} open at most)`,
    `probe port /health ${ms(probePort)} over ${probePort.length}`,
    `API port /health ${ms(mainPort)}`,
    `an unattacked control server ${ms(control)}`,
    `tenant's query ${ms(tenant)} over ${tenant.length}`,
    `server's event-loop delay p99 ${loopDelay.p99.toFixed(0)} / max ${loopDelay.max.toFixed(0)} ms`,
    `RSS ${rss.before.toFixed(0)} → ${rss.peak.toFixed(0)} → ${rss.after.toFixed(0)} MB (back in ${rss.backInSeconds.toFixed(0)} s)`,
  ].join("; ");
}

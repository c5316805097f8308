import autocannon from "autocannon";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import pg from "pg";

/** Throughput and latency of one load run. */
export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

export interface LoadSpec {
  url: string;
  seconds: number;
  connections: number;
  /** Builds each request (method, path, headers, body) from a running counter. */
  request: (n: number) => { method: "GET" | "POST"; path: string; headers: Record<string, string>; body?: string };
}

/** The runs whose requests failed, one line each: none of them is a figure (`figureOr`). */
export const failures: string[] = [];

/**
 * `figure` when the runs behind it had no failed request; else "no figure (N errors)", and the
 * run noted in `failures`: a bench that saw any ends with exit code 1 and writes no page
 * (`endUnlessFailed`). Answers refused (401 once a token expired, 503…) are not faster answers.
 */
export function figureOr(name: string, errors: number, figure: string): string {
  if (errors === 0) return figure;
  failures.push(`${name}: ${errors} failed requests`);
  return `no figure (${errors} errors)`;
}

/** Exits with code 1, naming each run in `failures`, when there is any. */
export function endUnlessFailed(): void {
  if (failures.length === 0) return;
  console.error(`\nNo figures: requests failed in ${failures.length} runs (nothing written):\n${failures.map((f) => `- ${f}`).join("\n")}`);
  process.exit(1);
}

/** Runs autocannon against a server in another process, after a 2 s warm-up that is not counted. */
export async function load(spec: LoadSpec): Promise<LoadResult> {
  const counter = { n: 0 }; // shared by warm-up and run: every request stays unique (e.g. new SKUs)
  await run({ ...spec, seconds: 2 }, counter);
  return run(spec, counter);
}

async function run(spec: LoadSpec, counter: { n: number }): Promise<LoadResult> {
  let graphqlErrors = 0;
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.seconds,
    requests: [
      {
        setupRequest: (req) => ({ ...req, ...spec.request(counter.n++) }),
        // GraphQL reports errors with HTTP 200: count them too.
        onResponse: (_status, body) => {
          if (body.includes('"errors"')) graphqlErrors++;
        },
      },
    ],
  });
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx + graphqlErrors,
  };
}

/** The same SQL from plain pg: `connections` loops over one pool, no HTTP. */
export async function pgLoop(
  url: string,
  seconds: number,
  connections: number,
  poolSize: number,
  transaction: (client: pg.PoolClient, n: number) => Promise<unknown>,
): Promise<LoadResult> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  const latencies: number[] = [];
  let n = 0;
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < until) {
        const started = performance.now();
        const client = await pool.connect();
        try {
          await transaction(client, n++);
        } finally {
          client.release();
        }
        latencies.push(performance.now() - started);
      }
    }),
  );
  await pool.end();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 10) / 10;
  return { rps: Math.round(latencies.length / seconds), p50: at(0.5), p99: at(0.99), errors: 0 };
}

/** Starts a Node server script as a child process and waits until it answers `readyPath`; its schema is built once, as in production (no watch mode). */
export async function startServer(
  script: string,
  env: Record<string, string>,
  port: number,
  readyPath = "/health",
): Promise<{ process: ChildProcess; startupMs: number; stop: () => Promise<void> }> {
  const started = performance.now();
  const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", script], {
    env: { ...process.env, GRAPHQL_WATCH: "false", PROBE_PORT: "0", ...env, PORT: String(port) },
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (;;) {
    const ok = await fetch(`http://localhost:${port}${readyPath}`).then(
      (r) => r.status < 500,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    process: child,
    startupMs: Math.round(performance.now() - started),
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** Median startup time and RSS (after one GraphQL request) over three starts of the gateway with `env`, on `port`. */
export async function startupFootprint(env: Record<string, string>, port: number): Promise<{ startupMs: number; rssMb: number }> {
  const samples: { startupMs: number; rssMb: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const server = await startServer("src/cli/start.ts", env, port);
    await fetch(`http://localhost:${port}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ tiers { totalCount } }" }),
    });
    samples.push({ startupMs: server.startupMs, rssMb: memoryMb(server.process.pid!) });
    await server.stop();
  }
  return { startupMs: median(samples.map((s) => s.startupMs)), rssMb: median(samples.map((s) => s.rssMb)) };
}

/** Resident memory of a process, in MiB (VmRSS), or its private part (RssAnon). */
export function memoryMb(pid: number, field: "VmRSS" | "RssAnon" = "VmRSS"): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  return Math.round(kb / 102.4) / 10;
}

/** p50 and p99 of a list of milliseconds. */
export function percentiles(ms: number[]): { p50: number; p99: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 10) / 10;
  return { p50: at(0.5), p99: at(0.99) };
}

/** CPU time (user + system) a process has used so far, in microseconds, from /proc/<pid>/stat. */
export function cpuMicros(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1_000_000) / 100; // USER_HZ is 100 on Linux
}

/** One load run plus the CPU µs per request the server process `pid` spent on it. */
export async function loadWithCpu(spec: LoadSpec, pid: number): Promise<Measured> {
  const before = cpuMicros(pid);
  const started = performance.now();
  const result = await load(spec);
  const seconds = (performance.now() - started) / 1000;
  const requests = Math.max(1, result.rps * seconds);
  return { ...result, cpuUsPerRequest: Math.round((cpuMicros(pid) - before) / requests) };
}

/** The median of a list of numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface Comparison {
  /** Median over rounds of a.rps / b.rps, and of a's over b's CPU µs per request. */
  rpsRatio: number;
  cpuRatio: number;
  /** (max − min) / median of the per-round rps ratios; above 0.10 the result is noisy. */
  spread: number;
  noisy: boolean;
  a: { rps: number; cpuUsPerRequest: number };
  b: { rps: number; cpuUsPerRequest: number };
  /** Failed requests over every round, both sides. */
  errors: number;
  /** The last round's full results, for latency percentiles. */
  last: [Measured, Measured];
}

type Measured = LoadResult & { cpuUsPerRequest: number };

/**
 * Runs a, b, a, b … `rounds` times each and compares them round by round, so that load from
 * other processes on a shared machine hits both sides alike. Medians of the ratios and their spread.
 */
export async function compareAlternately(a: () => Promise<Measured>, b: () => Promise<Measured>, rounds: number): Promise<Comparison> {
  const pairs: [Measured, Measured][] = [];
  for (let i = 0; i < rounds; i++) pairs.push([await a(), await b()]);
  const ratios = pairs.map(([x, y]) => x.rps / Math.max(1, y.rps));
  const rpsRatio = median(ratios);
  const spread = (Math.max(...ratios) - Math.min(...ratios)) / rpsRatio;
  const side = (k: 0 | 1) => ({
    rps: Math.round(median(pairs.map((p) => p[k].rps))),
    cpuUsPerRequest: Math.round(median(pairs.map((p) => p[k].cpuUsPerRequest))),
  });
  return {
    rpsRatio,
    spread,
    noisy: spread > 0.1,
    cpuRatio: median(pairs.map(([x, y]) => x.cpuUsPerRequest / Math.max(1, y.cpuUsPerRequest))),
    a: side(0),
    b: side(1),
    errors: pairs.reduce((sum, [x, y]) => sum + x.errors + y.errors, 0),
    last: pairs[pairs.length - 1],
  };
}

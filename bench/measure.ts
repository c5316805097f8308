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
    requests: [{
      setupRequest: (req) => ({ ...req, ...spec.request(counter.n++) }),
      // GraphQL reports errors with HTTP 200: count them too.
      onResponse: (_status, body) => {
        if (body.includes('"errors"')) graphqlErrors++;
      },
    }],
  });
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx + graphqlErrors,
  };
}

/** The same SQL from plain pg: `connections` loops over one pool, no HTTP. */
export async function pgLoop(url: string, seconds: number, connections: number, poolSize: number,
  transaction: (client: pg.PoolClient, n: number) => Promise<unknown>): Promise<LoadResult> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  const latencies: number[] = [];
  let n = 0;
  const until = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: connections }, async () => {
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
  }));
  await pool.end();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! * 10) / 10;
  return { rps: Math.round(latencies.length / seconds), p50: at(0.5), p99: at(0.99), errors: 0 };
}

/** Starts a Node server script as a child process and waits until it answers `readyPath`. */
export async function startServer(script: string, env: Record<string, string>, port: number, readyPath = "/health"): Promise<{ process: ChildProcess; startupMs: number; stop: () => Promise<void> }> {
  const started = performance.now();
  const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", script], {
    env: { ...process.env, ...env, PORT: String(port) }, stdio: ["ignore", "ignore", "inherit"],
  });
  for (;;) {
    const ok = await fetch(`http://localhost:${port}${readyPath}`).then((r) => r.status < 500, () => false);
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    process: child,
    startupMs: Math.round(performance.now() - started),
    stop: () => new Promise((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    }),
  };
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
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;
  return { p50: at(0.5), p99: at(0.99) };
}

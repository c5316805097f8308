import pg from "pg";
import { readJwtConfig } from "../src/config/auth.ts";
import { readPoolGroupsConfig } from "../src/config/pool.ts";
import { signAccessToken } from "../src/auth/tokens.ts";
import { failures, load, median, memoryMb, startServer, type LoadResult } from "./measure.ts";

/**
 * Tenant-affine connections (DATABASE_POOL_GROUPS, src/db/tenant-pool.ts) against one group, for
 * `npm run bench:ceiling`, on gateways in their own processes over the same database:
 * - memory: every tenant makes `memoryReads` reads through the gateway (all tenants in a shuffled order
 *   per round), then the private memory (RssAnon) of every backend of the gateway's pool, summed;
 *   connections are never recycled (DATABASE_POOL_MAX_LIFETIME=0), so this is what they hold;
 * - reads: throughput and p99 of a GraphQL read over 200 tenants, over every tenant, and with one
 *   hot tenant sending half the requests (its own p99), groups on and off alternated (ABAB).
 * A run with any failed request is no figure (failures, endUnlessFailed).
 */
export const POOL_SIZE = 16;
/** The default for that pool (DATABASE_POOL_GROUPS). */
export const GROUPS = readPoolGroupsConfig({}, POOL_SIZE).poolGroups;
const CONNECTIONS = 32;
const READ = JSON.stringify({ query: "{ products(first: 1) { nodes { sku } } }" });

export interface AffinityFigures {
  memory: { on: PoolMemory; off: PoolMemory };
  reads: { name: string; on: ReadRun; off: ReadRun }[];
}
interface PoolMemory {
  backends: number;
  mib: number;
  seconds: number;
}
interface ReadRun {
  rps: number;
  p99: number;
  /** The hot tenant's own p99, in the run where it sends half the requests. */
  hotP99?: number;
}

/** One access token per tenant (its admin), each with a new session opened in SQL (a new refresh token each call): no bcrypt, no sign-in throttle. */
export async function tenantTokens(owner: pg.Pool, serverEnv: Record<string, string>): Promise<string[]> {
  const jwt = readJwtConfig(serverEnv, undefined);
  const { rows } = await owner.query<{ user_id: number; tenant_id: number; session_id: string }>(
    `select u.id as user_id, u.tenant_id,
            app_private.open_session(u.id, sec.credential_version, sha256(convert_to('bench ' || u.id || ' ' || gen_random_uuid(), 'UTF8')), interval '1 day') as session_id
       from public.users u join app_private.user_secrets sec on sec.user_id = u.id
      where u.role = 'admin' order by u.tenant_id`,
  );
  return rows.map((row) =>
    signAccessToken(jwt, { userId: row.user_id, tenantId: row.tenant_id, role: "admin", sessionId: row.session_id }),
  );
}

/** Memory with groups on and off, then the reads alternated on both. */
export async function measureAffinity(
  owner: pg.Pool,
  serverEnv: Record<string, string>,
  tokens: string[],
  ports: [number, number],
  seconds: number,
  rounds: number,
  memoryReads: number,
): Promise<AffinityFigures> {
  const env = (groups: number) => ({
    ...serverEnv,
    DATABASE_POOL_SIZE: String(POOL_SIZE),
    DATABASE_POOL_GROUPS: String(groups),
    DATABASE_POOL_MAX_LIFETIME: "0",
  });
  const memory = {
    on: await poolMemory(owner, env(GROUPS), ports[0], tokens, GROUPS, memoryReads),
    off: await poolMemory(owner, env(1), ports[1], tokens, 1, memoryReads),
  };
  const on = await startServer("src/cli/start.ts", env(GROUPS), ports[0]);
  const off = await startServer("src/cli/start.ts", env(1), ports[1]);
  try {
    const scenarios: [string, (port: number) => Promise<ReadRun>][] = [
      ["200 tenants", (port) => reads(port, tokens.slice(0, 200), seconds)],
      [`${tokens.length} tenants`, (port) => reads(port, tokens, seconds)],
      [`${tokens.length} tenants, one sending half`, (port) => hotReads(port, tokens, seconds)],
    ];
    await Promise.all([reads(ports[0], tokens, seconds), reads(ports[1], tokens, seconds)]); // both warmed alike, not counted
    const runs = [];
    for (const [name, run] of scenarios) {
      const pairs: [ReadRun, ReadRun][] = [];
      for (let i = 0; i < rounds; i++) pairs.push([await run(ports[0]), await run(ports[1])]);
      const side = (k: 0 | 1): ReadRun => ({
        rps: Math.round(median(pairs.map((p) => p[k].rps))),
        p99: median(pairs.map((p) => p[k].p99)),
        ...(pairs[0][k].hotP99 === undefined ? {} : { hotP99: median(pairs.map((p) => p[k].hotP99!)) }),
      });
      runs.push({ name, on: side(0), off: side(1) });
      console.log(`reads, ${name}: groups ${GROUPS} ${JSON.stringify(side(0))}, groups 1 ${JSON.stringify(side(1))}`);
    }
    return { memory, reads: runs };
  } finally {
    await Promise.all([on.stop(), off.stop()]);
  }
}

/** A gateway with `env`; every tenant reads `memoryReads` times; the summed RssAnon of its pool's backends, then it stops. */
async function poolMemory(
  owner: pg.Pool,
  env: Record<string, string>,
  port: number,
  tokens: string[],
  groups: number,
  memoryReads: number,
): Promise<PoolMemory> {
  const gateway = await startServer("src/cli/start.ts", env, port);
  try {
    const started = performance.now();
    let errors = 0;
    for (let round = 0; round < memoryReads; round++) {
      const order = shuffled(tokens.length);
      let next = 0;
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (next < order.length) {
            const res = await readAs(port, tokens[order[next++]]);
            if (res.status !== 200 || (await res.text()).includes('"errors"')) errors++;
          }
        }),
      );
    }
    const seconds = (performance.now() - started) / 1000;
    if (errors > 0) failures.push(`pool memory, ${groups} groups: ${errors} failed requests`);
    const { rows } = await owner.query<{ pid: number }>("select pid from pg_stat_activity where application_name like $1", [
      `stoflow group %/${groups}`,
    ]);
    const mib = rows.reduce((sum, { pid }) => sum + memoryMb(pid, "RssAnon"), 0);
    console.log(
      `pool memory, ${groups} groups: ${rows.length} backends, ${mib.toFixed(1)} MiB after ${memoryReads} reads by each of ${tokens.length} tenants (${seconds.toFixed(0)} s)`,
    );
    return { backends: rows.length, mib, seconds };
  } finally {
    await gateway.stop();
  }
}

function readAs(port: number, token: string): Promise<Response> {
  return fetch(`http://localhost:${port}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: READ,
  });
}

/** Reads spread over `tokens` in turn, CONNECTIONS at once. */
async function reads(port: number, tokens: string[], seconds: number): Promise<ReadRun> {
  const result = await load(readSpec(port, seconds, CONNECTIONS, (n) => tokens[n % tokens.length]));
  return checked("reads", result);
}

/** Half the connections read as tokens[0], the other half as every other tenant in turn: the hot tenant's p99 apart. */
async function hotReads(port: number, tokens: string[], seconds: number): Promise<ReadRun> {
  const [hot, rest] = await Promise.all([
    load(readSpec(port, seconds, CONNECTIONS / 2, () => tokens[0])),
    load(readSpec(port, seconds, CONNECTIONS / 2, (n) => tokens[1 + (n % (tokens.length - 1))])),
  ]);
  checked("hot tenant's reads", hot);
  checked("other tenants' reads", rest);
  return { rps: hot.rps + rest.rps, p99: Math.max(hot.p99, rest.p99), hotP99: hot.p99 };
}

function readSpec(port: number, seconds: number, connections: number, token: (n: number) => string) {
  return {
    url: `http://localhost:${port}`,
    seconds,
    connections,
    request: (n: number) => ({
      method: "POST" as const,
      path: "/graphql",
      headers: { "content-type": "application/json", authorization: `Bearer ${token(n)}` },
      body: READ,
    }),
  };
}

function checked(name: string, result: LoadResult): ReadRun {
  if (result.errors > 0) failures.push(`${name}: ${result.errors} failed requests`);
  return { rps: result.rps, p99: result.p99 };
}

/** 0…n-1 in a random order (Fisher–Yates). */
function shuffled(n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

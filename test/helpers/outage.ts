import type { Logger } from "pino";
import { startGateway } from "../../src/server.ts";
import { lockTables } from "./db.ts";
import type { OwnCluster } from "./embedded.ts";
import { http, signUp, testServerConfig, type HttpResult } from "./gateway.ts";
import { silentProxy, type SilentProxy } from "./proxy.ts";
import { until } from "./until.ts";

/** Short limits, so that a silent network is noticed within seconds (with room for a busy machine). */
export const OUTAGE_TIMEOUTS = { DATABASE_CONNECT_TIMEOUT: "5", DATABASE_QUERY_TIMEOUT: "5" };

type User = Awaited<ReturnType<typeof signUp>>;

/** Every path a client takes, and what it answers when all is well. */
const PATHS: Record<string, { call(url: string, user: User): Promise<HttpResult>; ok(res: HttpResult, user: User): boolean }> = {
  "REST login": {
    call: (url, user) => http(url, "POST", "/api/auth/login", { body: { email: user.email, password: user.password } }),
    ok: (res) => res.status === 200 && typeof res.body.access_token === "string",
  },
  "REST session": {
    call: (url, user) => http(url, "GET", "/api/auth/session", { token: user.access_token }),
    ok: (res, user) => res.status === 200 && res.body.user.email === user.email,
  },
  "GraphQL anonymous": {
    call: (url) => http(url, "POST", "/graphql", { body: { query: "{ tiers { totalCount } }" } }),
    ok: (res) => res.status === 200 && res.body.data?.tiers.totalCount === 5 && !res.body.errors,
  },
  "GraphQL signed in": {
    call: (url, user) => http(url, "POST", "/graphql", { body: { query: "{ products { totalCount } }" }, token: user.access_token }),
    ok: (res) => res.status === 200 && res.body.data?.products.totalCount === 0 && !res.body.errors,
  },
  "/health": { call: (url) => http(url, "GET", "/health"), ok: (res) => res.status === 200 },
  "/ready": { call: (url) => http(url, "GET", "/ready"), ok: (res) => res.status === 200 },
};

/** The paths whose request waits inside PostgreSQL on these locks (GraphQL signed in: during execution). */
const LOCKED = (tenantId: number): Record<string, string> => ({
  "REST login": "app_private.attempt_counters",
  "GraphQL anonymous": "public.tiers",
  "GraphQL signed in": `client_${tenantId}.products`,
  "/ready": "app_private.tenant_schemas",
});

export interface Answer {
  path: string;
  status: number;
  retryAfter: string | null;
  code: string | undefined;
  ok: boolean;
  ms: number;
}

async function ask(url: string, user: User, path: string): Promise<Answer> {
  const started = Date.now();
  const res = await PATHS[path].call(url, user);
  // GraphQL keeps its own shape for errors, whatever their cause: errors[0].extensions.code.
  const code = path.startsWith("GraphQL") ? res.body?.errors?.[0]?.extensions?.code : res.body?.code;
  return {
    path,
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    code,
    ok: PATHS[path].ok(res, user),
    ms: Date.now() - started,
  };
}
const askAll = (url: string, user: User) => Promise.all(Object.keys(PATHS).map((path) => ask(url, user, path)));

interface Scene {
  cluster: OwnCluster;
  proxy: SilentProxy;
  lock: Awaited<ReturnType<typeof lockTables>>;
}

/** Each way PostgreSQL goes away, how it comes back, and whether it stays away meanwhile. */
export const WAYS: Record<
  string,
  {
    cut(scene: Scene): Promise<void>;
    restore(scene: Scene): Promise<void>;
    staysDown: boolean;
    viaProxy?: boolean;
    /**
     * A request waiting inside PostgreSQL may still finish: a fast shutdown ends the sessions one
     * after another, and when the one holding the lock ends first, a waiter can take the lock and
     * answer before its own turn (seen once for /ready, on a busy machine).
     */
    waitersMayFinish?: boolean;
  }
> = {
  "fast shutdown (pg_ctl stop -m fast)": {
    cut: ({ cluster }) => cluster.stop("fast"),
    restore: ({ cluster }) => cluster.start(),
    staysDown: true,
    waitersMayFinish: true,
  },
  "immediate shutdown (pg_ctl stop -m immediate)": {
    cut: ({ cluster }) => cluster.stop("immediate"),
    restore: ({ cluster }) => cluster.start(),
    staysDown: true,
  },
  "kill -9 of one server backend (PostgreSQL ends the others and recovers by itself)": {
    cut: async ({ lock }) => void process.kill((await lock.waiting())[0].pid, "SIGKILL"),
    restore: async () => {},
    staysDown: false,
  },
  "pg_terminate_backend of every server connection": {
    cut: async ({ lock }) =>
      void (await lock.client.query("select pg_terminate_backend(pid) from pg_stat_activity where usename = 'stoflow_authenticator'")),
    restore: async () => {},
    staysDown: false,
  },
  "network gone (silent, not closed) while queries are in flight": {
    cut: ({ proxy }) => Promise.resolve(proxy.blackHole()),
    restore: ({ proxy }) => Promise.resolve(proxy.heal()),
    staysDown: true,
    viaProxy: true,
  },
};

/** What every path answered while PostgreSQL went away one way, and came back. */
export interface Outage {
  /** Requests that were waiting inside PostgreSQL when it went away. */
  inside: Answer[];
  /** One request of every path while it stayed away (none for the ways it does not stay away). */
  down: Answer[];
  /** Five rounds of every path, 100 ms apart, sent across the moment it went away. */
  load: Answer[];
}

/**
 * Signs up through a gateway with OUTAGE_TIMEOUTS: on a busy machine a registration (a schema and
 * its tables) may outlast the 5 s query limit and answer 503 UNAVAILABLE, as it says, retry.
 */
async function signUpDespiteShortLimits(url: string): Promise<User> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await signUp(url);
    } catch (error) {
      if (attempt === 5 || !String(error).includes("UNAVAILABLE")) throw error;
    }
  }
}

/**
 * Starts a gateway over `cluster` (with short database limits), takes PostgreSQL away in the way
 * called `name` while requests are inside it and others keep coming, brings it back, and waits
 * until every path answers again: the gateway is never restarted.
 */
export async function takePostgresAway(cluster: OwnCluster, name: string, logger?: Logger): Promise<Outage> {
  const way = WAYS[name];
  const proxy = await silentProxy(cluster.config.embeddedPort);
  const appUrl = new URL(cluster.database.appUrl);
  if (way.viaProxy) appUrl.port = String(proxy.port);
  const gateway = await startGateway(appUrl.toString(), testServerConfig(OUTAGE_TIMEOUTS), logger ? { logger } : {});
  const superuserUrl = new URL(cluster.database.rootUrl!);
  superuserUrl.pathname = `/${cluster.config.databaseName}`;
  let lock: Scene["lock"] | undefined;
  try {
    const user = await signUpDespiteShortLimits(gateway.url);
    const locked = LOCKED(user.tenant.id);
    lock = await lockTables(superuserUrl.toString(), Object.values(locked));
    const scene = { cluster, proxy, lock };
    const early: Answer[] = [];
    const inFlight = Promise.all(
      Object.keys(locked).map((path) => ask(gateway.url, user, path).then((answer) => (early.push(answer), answer))),
    );
    await until("a request of each locked path waiting inside PostgreSQL", async () => {
      if (early.length > 0) throw new Error(`answered before PostgreSQL went away, instead of waiting inside it: ${JSON.stringify(early)}`);
      return (await lock!.waiting()).length >= Object.keys(locked).length;
    });
    const load = Promise.all(
      Array.from({ length: 5 }, async (_, round) => {
        await new Promise((resolve) => setTimeout(resolve, round * 100));
        return askAll(gateway.url, user);
      }),
    );
    await way.cut(scene);
    const inside = await inFlight;
    const down = way.staysDown ? await askAll(gateway.url, user) : [];
    await way.restore(scene);
    await lock.release();
    const outage = { inside, down, load: (await load).flat() };
    await until("every path answers again", async () => (await askAll(gateway.url, user)).every((answer) => answer.ok), 60_000);
    return outage;
  } finally {
    await lock?.release();
    await gateway.close();
    await proxy.close();
  }
}

import pg from "pg";
import type { Logger } from "pino";
import type { WithPgClient } from "postgraphile/@dataplan/pg";
import { makePgAdaptorWithPgClient, type NodePostgresPgClient } from "postgraphile/adaptors/pg";
import { createPool, type PoolSettings } from "./pool.ts";
import type { PoolGroupsConfig } from "../config/pool.ts";
import { TENANT_ID_SETTING } from "./transaction.ts";

/**
 * The server's pool, split into groups with tenant affinity. A PostgreSQL backend caches the
 * catalog of every relation it touched, and a pooled connection serves every tenant: at 50,000
 * tenants a warmed backend holds 1.4 GiB (docs/tenant-ceiling.md). Here a tenant's transactions
 * take a connection of its group (a stable hash of the tenant id), so each backend touches about
 * 1/groups of the tenants. A group whose connections are all busy borrows a free one of another
 * group (counted in `borrowed`), its neighbours round a ring first, and a released connection goes
 * to its own group's oldest waiter, else to its neighbours': no request waits while a connection is
 * free anywhere. When every connection is busy, a request that has waited
 * DATABASE_POOL_BORROW_WAIT_MS longer than the one a released connection would go to takes it
 * instead: a hot tenant, whose group is too small for it, waits about as long as it would in one
 * undivided pool. Under a load that keeps every connection busy, a group of two borrows for about a
 * quarter of its transactions, each a tenant of another group on its backend: a connection that
 * served DATABASE_POOL_BORROWED_USES of them is replaced, which bounds what they add.
 *
 * Why our own: pg-pool (node-postgres) hands out whichever idle client it has and takes no key;
 * PgBouncer's pools are per database/user, which is how affinity crosses it
 * (DATABASE_POOL_GROUP_DATABASE gives each group its own entry). What is ours is only the choice of
 * group and the line of waiters; each group is an ordinary pg.Pool made by createPool (timeouts,
 * lifetime, error handling unchanged), and PostGraphile's adaptor is used as it is, once per group.
 *
 * It is a pg.Pool to everything else: `connect()` and `query()` without a tenant take the least
 * busy group, and the groups' events ("connect", "acquire"…) are re-emitted (the adaptor patches
 * in src/db/patches listen there).
 */
export class TenantPool extends pg.Pool {
  readonly groups: pg.Pool[];
  /** Connections each group may hold, and how many it holds checked out or opening now. */
  readonly #sizes: number[];
  readonly #busy: number[];
  readonly #waiting: Waiter[] = [];
  readonly #waitMs: number;
  readonly #borrowWaitMs: number;
  readonly #borrowedUsesLimit: number;
  readonly #borrowedUses = new WeakMap<pg.PoolClient, number>();
  /** Connections a tenant got from a group not its own. */
  borrowed = 0;
  /** PostGraphile's transactions: on the tenant's group when pgSettings name one, else the least busy. */
  readonly withPgClient: WithPgClient<NodePostgresPgClient>;

  constructor(urls: string[], settings: PoolSettings & Pick<PoolGroupsConfig, "poolBorrowWaitMs" | "poolBorrowedUses">, logger: Logger) {
    super({ max: 1 }); // never connects itself: its groups do
    const groups = urls.length;
    this.#sizes = urls.map((_, g) => Math.max(1, Math.floor(settings.poolSize / groups) + (g < settings.poolSize % groups ? 1 : 0)));
    this.#busy = urls.map(() => 0);
    this.#waitMs = settings.connectTimeoutSeconds * 1000;
    this.#borrowWaitMs = settings.poolBorrowWaitMs;
    this.#borrowedUsesLimit = settings.poolBorrowedUses;
    this.groups = urls.map((url, g) => {
      const group = createPool(url, { ...settings, poolSize: this.#sizes[g] }, logger, { applicationName: `stoflow group ${g}/${groups}` });
      for (const event of ["connect", "acquire", "release", "remove"] as const)
        group.on(event, (...args: unknown[]) => this.emit(event, ...args));
      return group;
    });
    // pg.Pool's counts read its own (empty) lists: these are the groups', and the line's.
    Object.defineProperties(this, {
      totalCount: { get: () => this.groups.reduce((sum, group) => sum + group.totalCount, 0) },
      idleCount: { get: () => this.groups.reduce((sum, group) => sum + group.idleCount, 0) },
      waitingCount: { get: () => this.#waiting.length + this.groups.reduce((sum, group) => sum + group.waitingCount, 0) },
    });
    const adaptors = this.groups.map((_, g) => makePgAdaptorWithPgClient({ connect: () => this.connectTo(g) } as pg.Pool));
    const anyGroup = makePgAdaptorWithPgClient(this);
    this.withPgClient = (pgSettings, callback) => {
      const group = this.groupOf(pgSettings);
      return (group === undefined ? anyGroup : adaptors[group])(pgSettings, callback);
    };
  }

  /** The group of the tenant named by transaction settings; undefined without a tenant. */
  groupOf(settings: Record<string, string | undefined> | null | undefined): number | undefined {
    const tenant = settings?.[TENANT_ID_SETTING];
    return tenant ? tenantGroup(tenant, this.groups.length) : undefined;
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void;
  override connect(callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void) {
    const connecting = this.connectTo(undefined);
    if (!callback) return connecting;
    connecting.then(
      (client) => callback(undefined, client, (release) => client.release(release as Error | undefined)),
      (error: Error) => callback(error, undefined, () => {}),
    );
  }

  /** A connection of group `home` when it has one free, else a free one of another group, else the first released. */
  connectTo(home: number | undefined): Promise<pg.PoolClient> {
    const group = this.#freeGroup(home);
    if (group !== undefined) return this.#checkOut(group, home);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        home,
        since: performance.now(),
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
          reject(new Error("timeout exceeded when trying to connect")); // pg-pool's words, which isDatabaseUnavailable knows
        }, this.#waitMs),
      };
      this.#waiting.push(waiter);
    });
  }

  override async end(): Promise<void> {
    for (const waiter of this.#waiting.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error("Cannot use a pool after calling end on the pool"));
    }
    await Promise.all(this.groups.map((group) => group.end()));
    await super.end();
  }

  /**
   * `home` if it has room; else the next group round the ring with a connection idle, then with
   * room (a group borrows from its neighbours first, so a backend's borrowed tenants come mostly
   * from one group, and an idle connection rather than a new one); without a tenant, the group with
   * the most room. Undefined when all are full.
   */
  #freeGroup(home: number | undefined): number | undefined {
    const groups = this.groups.length;
    const room = (g: number) => this.#sizes[g] - this.#busy[g];
    if (home !== undefined) {
      if (room(home) > 0) return home;
      const ring = Array.from({ length: groups - 1 }, (_, k) => (home + k + 1) % groups);
      return ring.find((g) => room(g) > 0 && this.groups[g].idleCount > 0) ?? ring.find((g) => room(g) > 0);
    }
    let best: number | undefined;
    for (let g = 0; g < groups; g++) if (room(g) > 0 && (best === undefined || room(g) > room(best))) best = g;
    return best;
  }

  async #checkOut(group: number, home: number | undefined): Promise<pg.PoolClient> {
    this.#busy[group]++;
    const borrowed = home !== undefined && home !== group;
    if (borrowed) this.borrowed++;
    let client: pg.PoolClient;
    try {
      client = await this.groups[group].connect();
    } catch (error) {
      this.#freed(group);
      throw error;
    }
    // A connection that served borrowedUses transactions of other groups' tenants is closed as it
    // comes back (pg-pool opens another when needed): what borrowing adds to its backend stays bounded.
    const uses = (this.#borrowedUses.get(client) ?? 0) + (borrowed ? 1 : 0);
    this.#borrowedUses.set(client, uses);
    const worn = this.#borrowedUsesLimit > 0 && uses >= this.#borrowedUsesLimit;
    const release = client.release.bind(client); // pg-pool gives each checkout its own, which throws when called twice
    let released = false;
    client.release = (error?: Error | boolean) => {
      release(error || worn || undefined);
      if (!released) this.#freed(group);
      released = true;
    };
    return client;
  }

  /**
   * A connection of `group` was released (or failed to open): it goes to the oldest waiter of that
   * group, else of the group before it round the ring (which borrows from it first), and so on,
   * anonymous requests last; unless the oldest waiter of all has waited borrowWaitMs longer, which
   * then takes it. Measured against that waiter, not the clock: under a load that keeps every
   * connection busy, every request waits, and a fixed limit handed connections in arrival order
   * (10,100 tenants: 1,090 MiB with 8 groups against 1,142 MiB with one).
   */
  #freed(group: number): void {
    this.#busy[group]--;
    if (this.#waiting.length === 0) return;
    const groups = this.groups.length;
    let nearest = 0;
    let nearestDistance = Infinity;
    this.#waiting.forEach(({ home }, i) => {
      const distance = home === undefined ? groups : (group - home + groups) % groups;
      if (distance < nearestDistance) [nearest, nearestDistance] = [i, distance];
    });
    const nearestFirst = this.#waiting[nearest].since - this.#waiting[0].since < this.#borrowWaitMs;
    const [waiter] = this.#waiting.splice(nearestFirst ? nearest : 0, 1);
    clearTimeout(waiter.timer);
    this.#checkOut(group, waiter.home).then(waiter.resolve, waiter.reject);
  }
}

interface Waiter {
  home: number | undefined;
  since: number;
  resolve: (client: pg.PoolClient) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** The group of a tenant: FNV-1a of its id, so every gateway process puts it in the same group. */
export function tenantGroup(tenantId: string, groups: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < tenantId.length; i++) hash = Math.imul(hash ^ tenantId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % groups;
}

/** How many connections `pool` opens at most (its groups' together, for a TenantPool). */
export function capacityOf(pool: pg.Pool): number {
  return pool instanceof TenantPool ? pool.groups.reduce((sum, group) => sum + (group.options.max ?? 10), 0) : (pool.options.max ?? 10);
}

/** A connection for a transaction with `settings`: on its tenant's group when `pool` is a TenantPool. */
export function connectFor(pool: pg.Pool, settings: Record<string, string>): Promise<pg.PoolClient> {
  return pool instanceof TenantPool ? pool.connectTo(pool.groupOf(settings)) : pool.connect();
}

/** DATABASE_URL for each group, its database named by `template` when there is one (DATABASE_POOL_GROUP_DATABASE). */
export function groupUrls(url: string, groups: number, template: string | undefined): string[] {
  return Array.from({ length: groups }, (_, group) => {
    if (template === undefined) return url;
    const groupUrl = new URL(url);
    const database = decodeURIComponent(groupUrl.pathname.slice(1));
    groupUrl.pathname = `/${encodeURIComponent(template.replaceAll("{group}", String(group)).replaceAll("{database}", database))}`;
    return groupUrl.toString();
  });
}

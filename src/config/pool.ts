import { integer, optional } from "./fields.ts";

/** The connections a process keeps to PostgreSQL (the server's and the job worker's pools). */
export interface PoolConfig {
  /** Connections the server keeps to PostgreSQL. */
  poolSize: number;
  /**
   * Seconds a pooled connection lives before it is replaced: each PostgreSQL backend caches the
   * catalog of every tenant schema it touched, so recycling bounds that memory.
   */
  poolMaxLifetimeSeconds: number;
  /** Seconds to open a connection, or to wait for a free one in the pool, before giving up. */
  connectTimeoutSeconds: number;
  /**
   * Seconds a query may wait for its answer: when PostgreSQL goes silent (network gone, host
   * frozen), nothing else ends the wait. 0: no limit.
   */
  queryTimeoutSeconds: number;
  /** Seconds a connection stays idle before TCP keepalive probes check the peer. 0: no probes. */
  keepAliveSeconds: number;
}

/** The server's pool in tenant-affine groups (src/db/tenant-pool.ts); the job worker's is one pool. */
export interface PoolGroupsConfig {
  /**
   * Groups the server's pool is split into (src/db/tenant-pool.ts): a tenant's transactions go to
   * the connections of its group, so each backend caches the catalog of about 1/groups of the
   * tenants. 1: every connection serves every tenant.
   */
  poolGroups: number;
  /**
   * Behind PgBouncer, the database name of each group's connections (its own PgBouncer entry and
   * server pool), `{group}` standing for the group's number and `{database}` for DATABASE_URL's
   * database; undefined: every group connects to DATABASE_URL.
   */
  poolGroupDatabase: string | undefined;
  /**
   * Every connection being busy: how much longer than a group's oldest request another request
   * must have waited to take the next connection that group releases.
   */
  poolBorrowWaitMs: number;
  /**
   * Transactions of other groups' tenants a connection serves before it is replaced (0: never):
   * each may put another tenant's catalog in its backend's cache.
   */
  poolBorrowedUses: number;
}

export function readPoolConfig(env: NodeJS.ProcessEnv): PoolConfig {
  return {
    poolSize: integer(env, "DATABASE_POOL_SIZE", 10, 1, 500),
    poolMaxLifetimeSeconds: integer(env, "DATABASE_POOL_MAX_LIFETIME", 300, 0, 86_400),
    connectTimeoutSeconds: integer(env, "DATABASE_CONNECT_TIMEOUT", 10, 1, 600),
    queryTimeoutSeconds: integer(env, "DATABASE_QUERY_TIMEOUT", 30, 0, 86_400),
    keepAliveSeconds: integer(env, "DATABASE_KEEPALIVE", 10, 0, 7_200),
  };
}

export function readPoolGroupsConfig(env: NodeJS.ProcessEnv, poolSize: number): PoolGroupsConfig {
  // Groups of two connections by default: measured in docs/tenant-ceiling.md.
  const poolGroups = integer(env, "DATABASE_POOL_GROUPS", Math.max(1, Math.floor(poolSize / 2)), 1, 500);
  return {
    poolGroups,
    poolGroupDatabase: groupDatabase(optional(env, "DATABASE_POOL_GROUP_DATABASE")),
    poolBorrowWaitMs: integer(env, "DATABASE_POOL_BORROW_WAIT_MS", 20, 0, 60_000),
    poolBorrowedUses: integer(env, "DATABASE_POOL_BORROWED_USES", 1000, 0, 10_000_000),
  };
}

/** The template of the groups' database names: without `{group}`, every group would share one PgBouncer pool. */
function groupDatabase(value: string | undefined): string | undefined {
  if (value !== undefined && !value.includes("{group}")) {
    throw new Error(`DATABASE_POOL_GROUP_DATABASE must contain {group}, the group's number (got "${value}")`);
  }
  return value;
}

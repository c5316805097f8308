import { integer } from "./fields.ts";

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

export function readPoolConfig(env: NodeJS.ProcessEnv): PoolConfig {
  return {
    poolSize: integer(env, "DATABASE_POOL_SIZE", 10, 1, 500),
    poolMaxLifetimeSeconds: integer(env, "DATABASE_POOL_MAX_LIFETIME", 300, 0, 86_400),
    connectTimeoutSeconds: integer(env, "DATABASE_CONNECT_TIMEOUT", 10, 1, 600),
    queryTimeoutSeconds: integer(env, "DATABASE_QUERY_TIMEOUT", 30, 0, 86_400),
    keepAliveSeconds: integer(env, "DATABASE_KEEPALIVE", 10, 0, 7_200),
  };
}

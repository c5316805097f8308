import { integer, MB, memoryShareMb, optional } from "./fields.ts";

/** Live updates: GraphQL subscriptions over WebSocket (graphql-ws), fed by PostgreSQL's LISTEN/NOTIFY (src/live/). */
export interface LiveConfig {
  /**
   * The LISTEN connection's URL (as stoflow_authenticator), when DATABASE_URL goes through a
   * transaction-mode pooler, which loses notifications (pgbouncer#655). Unset: JOBS_DATABASE_URL, then DATABASE_URL.
   */
  listenUrl: string | undefined;
  /** Open subscription sockets of the whole process; beyond, the upgrade is refused with 503. */
  maxSockets: number;
  /** Open subscription sockets of one client address; beyond, 429 before the upgrade. */
  socketsPerAddress: number;
  /** Open subscription sockets of one tenant; beyond, the socket is closed (1013, try again later) at connection_init. */
  socketsPerTenant: number;
  /** Subscriptions at once on one socket; beyond, the subscription gets a TOO_MANY_SUBSCRIPTIONS error. */
  subscriptionsPerSocket: number;
  /** Bytes a socket may leave unread; beyond, the slow consumer is closed at once, never buffered without bound. */
  sendBufferBytes: number;
  /** Bytes all sockets together may leave unread; beyond, the heaviest readers are closed until the rest fit. */
  sendBufferTotalBytes: number;
  /** Events of one topic within this window are merged (the latest per row), then delivered. */
  mergeMs: number;
  /** How often the queued row changes are moved to NOTIFY (src/live/publisher.ts), and how many at most in one transaction. */
  publishMs: number;
  publishBatch: number;
  /** Events waiting for one subscription; beyond, they are replaced by one RESYNC event. */
  queuedEvents: number;
  /** Time a new socket has to send connection_init with its token; then it is closed (4408). */
  connectTimeoutMs: number;
  /** Sockets are pinged this often; one that has not answered the previous ping (gone, or reading nothing) is closed. */
  pingMs: number;
  /** Messages one socket may send a second (twice as many in a burst); beyond, it is closed (1008). */
  messagesPerSecond: number;
  /** Sign-ins (connection_init) and subscription starts of the whole process a second; beyond, 1013 or BUSY. */
  startsPerSecond: number;
  /**
   * Connections the deliveries' reads use (each event's row, read under the subscriber's role): a
   * pool of their own, so that a tenant's fan-out to thousands of subscriptions never takes the
   * connections of HTTP requests.
   */
  poolSize: number;
  /** Deliveries in progress at once, process-wide, turns rotating between tenants with events waiting. */
  deliveries: number;
  /**
   * A session verified live is trusted without the per-request SQL check while the LISTEN
   * connection's last ping heard (a notification to itself) was sent less than this ago (src/auth/session-liveness.ts): the most
   * a revocation can be late when that connection goes silent. 0: every request checked in SQL.
   */
  sessionLivenessWindowMs: number;
  /** Sessions trusted in memory at once; the least recently used beyond are checked in SQL again. */
  sessionLivenessSessions: number;
}

export function readLiveConfig(env: NodeJS.ProcessEnv): LiveConfig {
  return {
    listenUrl: optional(env, "DATABASE_LISTEN_URL"),
    maxSockets: integer(env, "LIVE_MAX_SOCKETS", 20_000, 0, 10_000_000),
    socketsPerAddress: integer(env, "LIVE_SOCKETS_PER_ADDRESS", 16, 1, 1_000_000),
    socketsPerTenant: integer(env, "LIVE_SOCKETS_PER_TENANT", 100, 1, 10_000_000),
    subscriptionsPerSocket: integer(env, "LIVE_SUBSCRIPTIONS_PER_SOCKET", 10, 1, 10_000),
    sendBufferBytes: integer(env, "LIVE_SEND_BUFFER_BYTES", 1024 * 1024, 1024, 1024 * 1024 * 1024),
    sendBufferTotalBytes: integer(env, "LIVE_SEND_BUFFER_TOTAL_MB", memoryShareMb(), 1, 65_536) * MB,
    mergeMs: integer(env, "LIVE_MERGE_MS", 150, 0, 10_000),
    publishMs: integer(env, "LIVE_PUBLISH_MS", 25, 5, 10_000),
    publishBatch: integer(env, "LIVE_PUBLISH_BATCH", 1_000, 1, 100_000),
    queuedEvents: integer(env, "LIVE_QUEUED_EVENTS", 256, 1, 1_000_000),
    connectTimeoutMs: integer(env, "LIVE_CONNECT_TIMEOUT_MS", 3_000, 100, 600_000),
    pingMs: integer(env, "LIVE_PING_MS", 15_000, 100, 600_000),
    messagesPerSecond: integer(env, "LIVE_MESSAGES_PER_SECOND", 10, 1, 100_000),
    startsPerSecond: integer(env, "LIVE_STARTS_PER_SECOND", 200, 1, 1_000_000),
    poolSize: integer(env, "LIVE_POOL_SIZE", 2, 1, 500),
    deliveries: integer(env, "LIVE_DELIVERIES", 4, 1, 10_000),
    sessionLivenessWindowMs: integer(env, "SESSION_LIVENESS_WINDOW_MS", 1_000, 0, 60_000),
    sessionLivenessSessions: integer(env, "SESSION_LIVENESS_SESSIONS", 20_000, 1, 10_000_000),
  };
}

import pg from "pg";
import type { Logger } from "pino";

/** The channels the database notifies (migrations: app_private.tg__notify_live, tg_sessions__notify_ended). */
export const LIVE_CHANNEL = "stoflow_live";
export const SESSION_ENDED_CHANNEL = "stoflow_session_ended";
/** The LISTEN connection's application_name (pg_stat_activity): operators and tests find it by it. */
export const LISTEN_APPLICATION_NAME = "stoflow listen";

/** Delay before the next attempt to listen again, doubled each failure up to the last. */
const RETRY_MS = [100, 250, 500, 1_000, 2_000, 5_000];

export interface NotificationHandlers {
  /** A notification on one of the channels. */
  notified(channel: string, payload: string): void;
  /** Listening (again) after a lost connection: whatever was notified meanwhile is lost. */
  resumed(): void;
  /** A ping sent at `sentAt` (performance.now()) was answered: every notification committed before it was heard. */
  heard(sentAt: number): void;
  /** The connection was lost: notifications may be missed until `heard` again. */
  lost(): void;
}

/** How long a new LISTEN connection has to hear its own notification before it is taken for one that hears none. */
const SELF_TEST_MS = 5_000;

/**
 * The process's one LISTEN connection (a session of its own: never a pool's, never through a
 * transaction-mode pooler). When it drops, it connects again with backoff and, once listening,
 * tells `resumed` so that subscribers refetch what they may have missed.
 *
 * Hand-built: @dataplan/pg's PgSubscriber was checked. On a lost connection it ends every
 * subscription with an error (clients must resubscribe: a reconnect storm), queues events for a
 * slow subscriber without bound, and LISTENs per topic; here a lost connection becomes one RESYNC
 * event, and queues are bounded by the hub (src/live/hub.ts).
 */
export class NotificationListener {
  #client: pg.Client | undefined;
  #stopped = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #connected = false;

  readonly #url: string;
  readonly #handlers: NotificationHandlers;
  readonly #logger: Logger;

  readonly #pingMs: number;

  /** `pingMs`: how often the connection is pinged once it proved it hears notifications (0: never). */
  constructor(url: string, handlers: NotificationHandlers, logger: Logger, pingMs = 0) {
    this.#url = url;
    this.#handlers = handlers;
    this.#logger = logger;
    this.#pingMs = pingMs;
  }

  /** Whether the LISTEN connection is up (/metrics). */
  get listening(): boolean {
    return this.#connected;
  }

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.#stopped) return;
    const client = new pg.Client({ connectionString: this.#url, keepAlive: true, application_name: LISTEN_APPLICATION_NAME });
    this.#client = client;
    const selfTest = `stoflow_self_test_${process.pid}_${Math.random().toString(36).slice(2)}`;
    client.on("notification", (message) => {
      if (message.channel !== selfTest) this.#handlers.notified(message.channel, message.payload ?? "");
    });
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client));
    try {
      await client.connect();
      await client.query(`listen ${LIVE_CHANNEL}; listen ${SESSION_ENDED_CHANNEL}`);
    } catch (error) {
      this.lost(client, error as Error);
      return;
    }
    const resumed = this.#failures > 0;
    this.#failures = 0;
    this.#connected = true;
    if (resumed) {
      this.#logger.info("live updates: listening again; subscribers get a RESYNC event");
      this.#handlers.resumed();
    }
    if (this.#pingMs > 0) void this.provePings(client, selfTest);
  }

  /**
   * Once the connection hears its own notification (a transaction-mode pooler would lose it:
   * pgbouncer#655), pings it every `pingMs` and reports each answer to `heard`; a ping still
   * unanswered is not doubled.
   */
  private async provePings(client: pg.Client, selfTest: string): Promise<void> {
    const heardItself = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), SELF_TEST_MS);
      client.on("notification", (message) => message.channel === selfTest && (clearTimeout(timer), resolve(true)));
    });
    try {
      await client.query(`listen ${selfTest}; notify ${selfTest}`);
    } catch {
      return; // lost: `lost` reconnects
    }
    if (!(await heardItself)) {
      if (client === this.#client)
        this.#logger.warn(
          "LISTEN connection hears no notification (a transaction-mode pooler? set DATABASE_LISTEN_URL): every request checks its session in SQL",
        );
      return;
    }
    let inFlight = false;
    const timer = setInterval(() => {
      if (client !== this.#client) return clearInterval(timer);
      if (inFlight) return;
      inFlight = true;
      const sentAt = performance.now();
      client
        .query("select 1")
        .then(
          () => client === this.#client && this.#handlers.heard(sentAt),
          () => undefined, // lost: `lost` reconnects
        )
        .finally(() => (inFlight = false));
    }, this.#pingMs);
    timer.unref();
  }

  private lost(client: pg.Client, error?: Error): void {
    if (client !== this.#client || this.#stopped) return;
    this.#client = undefined;
    this.#connected = false;
    this.#handlers.lost();
    client.removeAllListeners("end");
    client.on("error", () => undefined);
    client.end().catch(() => undefined);
    const delay = RETRY_MS[Math.min(this.#failures, RETRY_MS.length - 1)];
    this.#failures += 1;
    this.#logger.warn({ err: error?.message }, `live updates: LISTEN connection lost; again in ${delay} ms`);
    this.#timer = setTimeout(() => void this.connect(), delay);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }
}

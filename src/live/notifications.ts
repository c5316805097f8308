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
  /** A ping sent at `sentAt` (performance.now()) was heard: every notification committed before it was heard too. */
  heard(sentAt: number): void;
  /** The connection was lost: notifications may be missed until `heard` again. */
  lost(): void;
}

/** How long a ping (a notification to itself) may take to be heard before the connection is said to hear none. */
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

  /** `pingMs`: how often the connection pings itself with a notification (0: never). */
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
   * Pings the connection every `pingMs` with a notification to itself, and reports each one heard
   * to `heard` with the time it was sent. PostgreSQL delivers notifications in commit order, so
   * hearing it proves that every notification committed before it was heard; behind a
   * transaction-mode pooler (pgbouncer#655) it is lost like the others, and nothing is proven. A
   * ping not heard within SELF_TEST_MS is logged once (sessions are then checked in SQL), and the
   * next one is sent.
   */
  private async provePings(client: pg.Client, selfTest: string): Promise<void> {
    try {
      await client.query(`listen ${selfTest}`);
    } catch {
      return; // lost: `lost` reconnects
    }
    let sent: { ping: string; at: number } | undefined;
    let warned = false;
    client.on("notification", (message) => {
      if (message.channel !== selfTest || !sent || message.payload !== sent.ping) return;
      this.#handlers.heard(sent.at);
      sent = undefined;
    });
    let pings = 0;
    const timer = setInterval(() => {
      if (client !== this.#client) return clearInterval(timer);
      const now = performance.now();
      if (sent && now - sent.at < SELF_TEST_MS) return; // not doubled while one may still come
      if (sent && !warned) {
        warned = true;
        this.#logger.warn(
          "LISTEN connection does not hear its own notifications (a transaction-mode pooler? set DATABASE_LISTEN_URL): every request checks its session in SQL",
        );
      }
      sent = { ping: String(++pings), at: now };
      client.query(`notify ${selfTest}, '${sent.ping}'`).catch(() => undefined); // lost: `lost` reconnects
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

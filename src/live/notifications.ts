import pg from "pg";
import type { Logger } from "pino";

/** The channels the database notifies (migrations: app_private.tg__notify_live, tg_sessions__notify_ended). */
export const LIVE_CHANNEL = "stoflow_live";
export const SESSION_ENDED_CHANNEL = "stoflow_session_ended";

/** Delay before the next attempt to listen again, doubled each failure up to the last. */
const RETRY_MS = [100, 250, 500, 1_000, 2_000, 5_000];

export interface NotificationHandlers {
  /** A notification on one of the channels. */
  notified(channel: string, payload: string): void;
  /** Listening (again) after a lost connection: whatever was notified meanwhile is lost. */
  resumed(): void;
}

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

  constructor(url: string, handlers: NotificationHandlers, logger: Logger) {
    this.#url = url;
    this.#handlers = handlers;
    this.#logger = logger;
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
    const client = new pg.Client({ connectionString: this.#url, keepAlive: true });
    this.#client = client;
    client.on("notification", (message) => this.#handlers.notified(message.channel, message.payload ?? ""));
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
  }

  private lost(client: pg.Client, error?: Error): void {
    if (client !== this.#client || this.#stopped) return;
    this.#client = undefined;
    this.#connected = false;
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

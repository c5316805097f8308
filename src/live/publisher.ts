import type pg from "pg";
import type { Logger } from "pino";

export interface LivePublisher {
  /** Stops after the batch in progress, if any. */
  stop(): Promise<void>;
}

/**
 * Moves the queued row changes (app_private.live_outbox, filled by the tenant tables' triggers)
 * to NOTIFY stoflow_live for the tenants some gateway listens for, every `everyMs`: one
 * transaction, and so one hold of NOTIFY's database-wide commit lock, for a whole batch of up to
 * `batch` changes instead of one per writer. A full batch is followed by the next at once. Every gateway runs one; the
 * database lets one publish at a time (app_private.publish_live_changes), so changes go out in
 * queue order. One statement on `pool`: a transaction-mode pooler is fine. A failure (the
 * database away) is logged once, and the next tick tries again.
 */
export function publishLiveChanges(pool: pg.Pool, { everyMs, batch }: { everyMs: number; batch: number }, logger: Logger): LivePublisher {
  let stopped = false;
  let failing = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const publishOnce = async (): Promise<number> => {
    const { rows } = await pool.query<{ taken: number }>("select app_private.publish_live_changes($1) as taken", [batch]);
    return rows[0].taken;
  };
  const tick = async () => {
    try {
      while (!stopped && (await publishOnce()) >= batch);
      failing = false;
    } catch (error) {
      if (!failing) logger.warn({ err: (error as Error).message }, "live updates: changes not published; trying again");
      failing = true;
    }
    if (!stopped) schedule();
  };
  const schedule = () => {
    timer = setTimeout(() => {
      running = tick();
    }, everyMs);
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

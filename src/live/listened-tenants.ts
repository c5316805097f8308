import { randomUUID } from "node:crypto";
import os from "node:os";
import type pg from "pg";
import type { Logger } from "pino";

/** How often a gateway renews its tenants (a row of app_private.live_listeners expires after 2 minutes). */
export const RENEW_MS = 30_000;

export interface ListenedTenants {
  /** Tells the database the tenants with sockets now; never rejects (a failure is logged), settles after a telling that began after the call. */
  tell(): Promise<void>;
  /** Settles once the database knows `tenant` is listened for: at once when the last telling named it, else after a new one. */
  joined(tenant: number): Promise<void>;
  /** Stops renewing, and tells the database this process listens for no tenant any more. */
  stop(): Promise<void>;
}

/**
 * Tells the database which tenants this process has signed-in subscription sockets for
 * (app_private.live_listen), so that the publisher notifies their changes and drops every other
 * tenant's. Before any socket's connection_ack (`joined`: a client subscribes only after it, so
 * every change made after a subscription starts is notified), every RENEW_MS, and when the
 * LISTEN connection is back. `tenants()`: the set now. One statement on `pool`, so a
 * transaction-mode pooler is fine. A telling that fails (the database away) is retried at the
 * next renewal.
 */
export function listenTenants(tenants: () => number[], pool: pg.Pool, logger: Logger): ListenedTenants {
  const gateway = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const tellNow = (set: number[]) => pool.query("select app_private.live_listen($1, $2)", [gateway, set]).then(() => undefined);
  let told = new Set<number>();
  const tell = rerunning(async () => {
    const set = tenants();
    await tellNow(set);
    told = new Set(set);
  });
  const warned = (error: Error) => logger.warn({ err: error.message }, "live updates: listened tenants not told to the database");
  const renewal = setInterval(() => void tell().catch(warned), RENEW_MS).unref();
  return {
    tell: () => tell().catch(warned),
    joined: (tenant) => (told.has(tenant) ? Promise.resolve() : tell().catch(warned)),
    async stop() {
      clearInterval(renewal);
      told = new Set();
      await tellNow([]).catch(warned);
    },
  };
}

/**
 * `work`, never twice at once: a call while it runs gets one more run after it, shared by every
 * call made meanwhile (each then sees a run that began after it).
 */
function rerunning(work: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const start = () => (running = work().finally(() => (running = undefined)));
  return () => {
    if (!running) return start();
    return (next ??= running
      .catch(() => undefined)
      .then(() => {
        next = undefined;
        return start();
      }));
  };
}

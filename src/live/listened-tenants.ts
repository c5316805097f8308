import { randomUUID } from "node:crypto";
import os from "node:os";
import type pg from "pg";
import type { Logger } from "pino";
import type { LiveHub } from "./hub.ts";

/** How often a gateway renews its tenants (a row of app_private.live_listeners expires after 2 minutes). */
export const RENEW_MS = 30_000;

export interface ListenedTenants {
  /** Tells the database the tenants with subscriptions now; settles after a telling that began after the call. */
  tell(): Promise<void>;
  /** Stops renewing, and tells the database this process listens for no tenant any more. */
  stop(): Promise<void>;
}

/**
 * Tells the database which tenants this process has subscriptions for (app_private.live_listen),
 * so that writers of every other tenant send no NOTIFY: NOTIFY takes a lock for the whole
 * database at commit, which serialized 16 writers (0.74× their throughput with the triggers on).
 * At a tenant's first subscription (which starts once the database knows: its writers notify from
 * then on), every RENEW_MS, and when the LISTEN connection is back. One statement on `pool`, so a
 * transaction-mode pooler is fine.
 */
export function listenTenants(hub: LiveHub, pool: pg.Pool, logger: Logger): ListenedTenants {
  const gateway = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const tellNow = (tenants: number[]) => pool.query("select app_private.live_listen($1, $2)", [gateway, tenants]).then(() => undefined);
  const tell = rerunning(() => tellNow(hub.tenants));
  const warned = (error: Error) => logger.warn({ err: error.message }, "live updates: listened tenants not told to the database");
  hub.newTenant = () => tell().catch(warned);
  const renewal = setInterval(() => void tell().catch(warned), RENEW_MS).unref();
  return {
    tell,
    async stop() {
      clearInterval(renewal);
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

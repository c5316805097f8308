import type { Socket } from "node:net";
import type pg from "pg";
import type { Logger } from "pino";
import type { GrafservBase } from "postgraphile/grafserv";
import type { SessionLiveness } from "../auth/session-liveness.ts";
import type { SessionClaims } from "../auth/tokens.ts";
import type { ServerConfig } from "../config/server.ts";
import type { LiveHub } from "./hub.ts";
import { listenTenants } from "./listened-tenants.ts";
import { LIVE_CHANNEL, NotificationListener } from "./notifications.ts";
import { publishLiveChanges } from "./publisher.ts";
import { LiveSockets } from "./sockets.ts";

export interface LiveUpdates {
  hub: LiveHub;
  sockets: LiveSockets;
  listener: NotificationListener;
  stop(): Promise<void>;
}

interface LiveOptions {
  config: ServerConfig;
  /** A direct connection for LISTEN (DATABASE_LISTEN_URL, JOBS_DATABASE_URL or DATABASE_URL). */
  listenUrl: string;
  authorize: (token: string) => Promise<SessionClaims>;
  trustProxy: (address: string, hop: number) => boolean;
  upgraded: (socket: Socket) => void;
  /** Where the tenants with sockets are told to the database (listened-tenants.ts). */
  pool: pg.Pool;
  /** Where the queued row changes are published (publisher.ts). */
  publishPool: pg.Pool;
  /** Told every revocation heard, every answered ping and every loss of the LISTEN connection. */
  liveness: SessionLiveness;
  logger: Logger;
}

/**
 * Live updates of one gateway process: the subscription sockets, the publisher of the queued row
 * changes (publisher.ts), and the LISTEN connection that feeds the hub (row changes of the tenants with sockets here, told to the database) and closes the sockets of ended
 * sessions. When the connection comes back after a loss, every subscription gets RESYNC and every
 * socket's session is checked again.
 */
export async function startLiveUpdates(serv: GrafservBase, hub: LiveHub, options: LiveOptions): Promise<LiveUpdates> {
  const { config, logger } = options;
  const listened = listenTenants(() => sockets.tenants, options.pool, logger);
  const sockets = new LiveSockets(serv, {
    limits: config.live,
    authorize: options.authorize,
    corsOrigins: config.corsOrigins,
    trustProxy: options.trustProxy,
    maxMessageBytes: config.graphql.maxBodyBytes,
    upgraded: options.upgraded,
    tenantJoined: (tenant) => listened.joined(tenant),
  });
  const listener = new NotificationListener(
    options.listenUrl,
    {
      notified: (channel, payload) => {
        if (channel === LIVE_CHANNEL) return hub.notified(payload);
        options.liveness.ended(payload);
        sockets.sessionEnded(payload);
      },
      resumed: () => {
        void listened.tell(); // the database may have restarted (its listeners are unlogged)
        hub.resync();
        sockets.recheckSessions().catch((error: Error) => logger.warn({ err: error.message }, "live updates: sessions not rechecked"));
      },
      heard: (sentAt) => options.liveness.heard(sentAt),
      lost: () => options.liveness.lost(),
    },
    logger,
    config.live.sessionLivenessWindowMs / 4,
  );
  await listener.start();
  const publisher = publishLiveChanges(options.publishPool, { everyMs: config.live.publishMs, batch: config.live.publishBatch }, logger);
  return {
    hub,
    sockets,
    listener,
    async stop() {
      sockets.close();
      hub.release();
      await Promise.all([listener.stop(), listened.stop(), publisher.stop()]);
    },
  };
}

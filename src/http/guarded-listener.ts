import cluster from "node:cluster";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { acceptorsOf, ensurePortFree } from "./acceptors.ts";
import type { ServerConfig } from "../config/server.ts";
import { withContext } from "./request-context.ts";
import { collectAfterFloods } from "./flood-recovery.ts";
import { answerMalformed } from "./malformed-requests.ts";
import { SocketGuard, type Listener } from "../admission/socket-guard.ts";

/**
 * Connections the kernel may hold for Node to accept (Linux caps it at net.core.somaxconn). Node's
 * 511 overflows under a crowd of new connections: the kernel then drops SYNs, and a client waits
 * for its retransmission (1 s, then 3 s, 7 s…) instead of waiting in this backlog.
 */
const LISTEN_BACKLOG = 4_096;

/** Time a probe has to send its request: probes are small and near. */
const PROBE_REQUEST_MS = 2_000;

export type TrustProxy = (address: string, hop: number) => boolean;

/** One HTTP listener and the guard of its sockets (read by /metrics). */
export interface GuardedListener {
  server: http.Server;
  sockets: SocketGuard;
  /** Resolves with the port bound. `shared`: the port is bound by other processes too (HTTP_WORKERS' probe threads). */
  listen(shared?: boolean): Promise<number>;
  close(): Promise<void>;
}

/**
 * The probes' listener (PROBE_PORT: /health, /ready, /metrics), served by `probes`, with a few
 * sockets of its own: a crowd that fills the API's port leaves it answering, as Kubernetes and
 * load balancers expect. It runs on a thread of its own (probe-thread.ts).
 */
export function createProbeListener(config: ServerConfig, trustProxy: TrustProxy, probes: Listener): GuardedListener {
  const server = http.createServer({
    headersTimeout: PROBE_REQUEST_MS,
    requestTimeout: PROBE_REQUEST_MS,
    connectionsCheckingInterval: 500,
  });
  server.timeout = config.httpTimeouts.socketMs;
  // Probers never pipeline: a socket with more than an address's share of probes in progress is closed.
  const { maxConnections, perAddress: pipelined } = config.probe;
  const sockets = new SocketGuard({ max: maxConnections, perClient: maxConnections, ...config.slowSockets, pipelined, evictYoung: true });
  sockets.attach(server, withContext(trustProxy, probes));
  return guarded(
    server,
    sockets,
    () => refusalsOf(sockets),
    () => sockets.counts.open <= maxConnections / 2,
    { port: config.probe.port, setting: "PROBE_PORT" },
  );
}

/** Sockets refused, evicted or closed by `sockets`. */
export function refusalsOf({ counts }: SocketGuard): number {
  return counts.refused + counts.evicted + counts.tooSlow + counts.pipelined;
}

/**
 * `server` guarded by `sockets`, listening on `port` (the setting named `setting`) with
 * `acceptors` more listening sockets (acceptors.ts; none in a cluster's worker, whose primary
 * accepts), its flood's memory given back once calm.
 */
export function guarded(
  server: http.Server,
  sockets: SocketGuard,
  refusals: () => number,
  calm: () => boolean,
  { port, setting, acceptors: asked = 0 }: { port: number; setting: string; acceptors?: number },
) {
  const stopCollecting = collectAfterFloods(refusals, calm);
  server.on("clientError", answerMalformed);
  const count = cluster.isWorker ? 0 : asked;
  const acceptors = acceptorsOf(server, count, LISTEN_BACKLOG);
  return {
    server,
    sockets,
    async listen(shared = false) {
      const extra = !shared && count > 0;
      await listen(server, port, setting, { reusePort: shared || extra, checkFree: extra });
      const bound = (server.address() as AddressInfo).port;
      if (extra) await acceptors.listen(bound);
      return bound;
    },
    async close() {
      stopCollecting();
      // Every listening socket stops at once; each close resolves once the sockets it accepted end.
      const extra = acceptors.close();
      if (server.listening) {
        await new Promise((resolve) => {
          server.close(resolve);
          server.closeIdleConnections();
        });
      }
      await extra;
    },
  };
}

/**
 * Resolves once listening; rejects with a clear message when the port is taken. `checkFree`: the
 * port is shared with this process's acceptors only, so it must be free first (a port bound with
 * `reusePort` would be shared with another server of the same user without a word).
 */
async function listen(server: http.Server, port: number, setting: string, { reusePort = false, checkFree = false }): Promise<void> {
  const taken = (error: NodeJS.ErrnoException) =>
    error.code === "EADDRINUSE" ? new Error(`Port ${port} is already in use: stop the other server or set ${setting}`) : error;
  if (checkFree) await ensurePortFree(port).catch((error: NodeJS.ErrnoException) => Promise.reject(taken(error)));
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => reject(taken(error)));
    server.listen({ port, backlog: LISTEN_BACKLOG, reusePort }, resolve);
  });
}

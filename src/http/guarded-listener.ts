import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ServerConfig } from "../config/server.ts";
import { withContext } from "./request-context.ts";
import { collectAfterFloods } from "./flood-recovery.ts";
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
    config.probe.port,
    "PROBE_PORT",
  );
}

/** Sockets refused, evicted or closed by `sockets`. */
export function refusalsOf({ counts }: SocketGuard): number {
  return counts.refused + counts.evicted + counts.tooSlow + counts.pipelined;
}

/** `server` guarded by `sockets`, listening on `port` (the setting named `setting`), its flood's memory given back once calm. */
export function guarded(
  server: http.Server,
  sockets: SocketGuard,
  refusals: () => number,
  calm: () => boolean,
  port: number,
  setting: string,
) {
  const stopCollecting = collectAfterFloods(refusals, calm);
  return {
    server,
    sockets,
    async listen(shared = false) {
      await listen(server, port, setting, shared);
      return (server.address() as AddressInfo).port;
    },
    async close() {
      stopCollecting();
      if (!server.listening) return;
      await new Promise((resolve) => {
        server.close(resolve);
        server.closeIdleConnections();
      });
    },
  };
}

/** Resolves once listening; rejects with a clear message when the port is taken. */
function listen(server: http.Server, port: number, setting: string, reusePort: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(error.code === "EADDRINUSE" ? new Error(`Port ${port} is already in use: stop the other server or set ${setting}`) : error),
    );
    server.listen({ port, backlog: LISTEN_BACKLOG, reusePort }, resolve);
  });
}

import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ServerConfig } from "../config/server.ts";
import { GRAPHQL_PATH } from "../graphql/context.ts";
import { REST_BODY_BYTES } from "./auth-routes.ts";
import { admitBodies, BodyBudget } from "../admission/body-budget.ts";
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

/** The two HTTP listeners of a gateway and what bounds them (read by /metrics). */
export interface Listeners {
  main: http.Server;
  probe: http.Server;
  sockets: { main: SocketGuard; probe: SocketGuard };
  bodies: BodyBudget;
  /** Serves `api` on PORT, behind the body budget, and `probes` on PROBE_PORT. */
  serve(api: Listener, probes: Listener): void;
  listen(): Promise<{ port: number; probePort: number }>;
  close(): Promise<void>;
}

/**
 * The API's listener (PORT) and the probes' (PROBE_PORT: /health, /ready, /metrics, with a few
 * sockets of its own): a crowd that fills the first leaves the second answering, as Kubernetes
 * and load balancers expect. Both guard their sockets (admission/socket-guard.ts); the API's bodies share a
 * budget (admission/body-budget.ts). `trustProxy`: Express's compiled `trust proxy`, for the client address.
 * `otherRefusals`: requests refused further on (new GraphQL documents), which also tell a flood
 * whose memory is given back once it is over (flood-recovery.ts).
 */
export function createListeners(
  config: ServerConfig,
  trustProxy: (address: string, hop: number) => boolean,
  otherRefusals: () => number = () => 0,
): Listeners {
  const { headersMs, requestMs, socketMs } = config.httpTimeouts;
  // A client that sends its request slowly (slowloris), or does not take its answer, loses its
  // socket after these delays (with no "timeout" listener, Node destroys a socket silent for socketMs).
  const main = http.createServer({
    headersTimeout: headersMs,
    requestTimeout: Math.max(requestMs, headersMs),
    connectionsCheckingInterval: Math.min(1_000, headersMs),
  });
  main.timeout = socketMs;
  const probe = http.createServer({ headersTimeout: PROBE_REQUEST_MS, requestTimeout: PROBE_REQUEST_MS, connectionsCheckingInterval: 500 });
  probe.timeout = socketMs;
  const { pipelinedRequests: pipelined, slowSockets } = config;
  const sockets = {
    main: new SocketGuard({ max: config.maxConnections, perClient: config.connectionsPerAddress, ...slowSockets, pipelined }),
    probe: new SocketGuard({
      max: config.probe.maxConnections,
      perClient: config.probe.maxConnections,
      ...slowSockets,
      pipelined,
      evictYoung: true,
    }),
  };
  const bodies = new BodyBudget(config.bodyBudgetBytes);
  const servers = [main, probe];
  const refusals = () =>
    Object.values(sockets).reduce((sum, { counts }) => sum + counts.refused + counts.evicted + counts.tooSlow + counts.pipelined, 0) +
    bodies.counts.refused +
    bodies.counts.evicted +
    otherRefusals();
  const calm = () => sockets.main.counts.open <= config.maxConnections / 10 && bodies.counts.held <= config.bodyBudgetBytes / 10;
  const stopCollecting = collectAfterFloods(refusals, calm);
  const largestBody = (path: string) => (path === GRAPHQL_PATH ? config.graphql.maxBodyBytes : REST_BODY_BYTES);
  return {
    main,
    probe,
    sockets,
    bodies,
    serve(api, probes) {
      // The request's context first (its path and client address, read by everything after).
      sockets.main.attach(main, withContext(trustProxy, admitBodies(bodies, largestBody, api)));
      sockets.probe.attach(probe, withContext(trustProxy, probes));
    },
    async listen() {
      await listen(main, config.port, "PORT");
      await listen(probe, config.probe.port, "PROBE_PORT");
      return { port: (main.address() as AddressInfo).port, probePort: (probe.address() as AddressInfo).port };
    },
    async close() {
      stopCollecting();
      await Promise.all(
        servers
          .filter((server) => server.listening)
          .map(
            (server) =>
              new Promise((resolve) => {
                server.close(resolve);
                server.closeIdleConnections();
              }),
          ),
      );
    },
  };
}

/** Resolves once listening; rejects with a clear message when the port is taken. */
function listen(server: http.Server, port: number, setting: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(error.code === "EADDRINUSE" ? new Error(`Port ${port} is already in use: stop the other server or set ${setting}`) : error),
    );
    server.listen({ port, backlog: LISTEN_BACKLOG }, resolve);
  });
}

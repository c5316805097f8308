import http, { type IncomingMessage } from "node:http";
import type { ServerConfig } from "../config/server.ts";
import { GRAPHQL_PATH } from "../graphql/context.ts";
import { REST_BODY_BYTES } from "./auth-routes.ts";
import { BILLING_PATH, WEBHOOK_BODY_BYTES, WEBHOOK_ROUTE } from "./billing-routes.ts";
import { admitBodies, BodyBudget } from "../admission/body-budget.ts";
import { LoopShare, sharingLoop } from "../admission/loop-share.ts";
import { withContext } from "./request-context.ts";
import { SocketGuard, type Listener } from "../admission/socket-guard.ts";
import { guarded, refusalsOf, type GuardedListener, type TrustProxy } from "./guarded-listener.ts";

/** The API's listener, and the budget of its bodies. */
export interface ApiListener extends GuardedListener {
  bodies: BodyBudget;
  /** The requests each iteration of the event loop starts, shared between clients. */
  loop: LoopShare;
  /** Serves `api` on PORT, behind the body budget; `tenantOf`: the tenant a request's bearer token speaks for (http/bearer.ts), whose requests take turns per tenant. */
  serve(api: Listener, tenantOf: (req: IncomingMessage) => number | undefined): void;
}

/**
 * The API's listener (PORT): its sockets guarded (admission/socket-guard.ts), its bodies within a
 * budget (admission/body-budget.ts). `trustProxy`: Express's compiled `trust proxy`, for the
 * client address. `otherRefusals`: requests refused further on (new GraphQL documents), which
 * also tell a flood whose memory is given back once it is over (flood-recovery.ts).
 */
export function createApiListener(config: ServerConfig, trustProxy: TrustProxy, otherRefusals: () => number = () => 0): ApiListener {
  const { headersMs, requestMs, socketMs } = config.httpTimeouts;
  // A client that sends its request slowly (slowloris), or does not take its answer, loses its
  // socket after these delays (with no "timeout" listener, Node destroys a socket silent for socketMs).
  const server = http.createServer({
    headersTimeout: headersMs,
    requestTimeout: Math.max(requestMs, headersMs),
    connectionsCheckingInterval: Math.min(1_000, headersMs),
  });
  server.timeout = socketMs;
  const { pipelinedRequests: pipelined, slowSockets } = config;
  const sockets = new SocketGuard({
    max: config.maxConnections,
    perClient: config.connectionsPerAddress,
    floor: config.connectionsFloor,
    ...slowSockets,
    pipelined,
  });
  const bodies = new BodyBudget(config.bodyBudgetBytes);
  const loop = new LoopShare(config.requestsPerIteration);
  // Requests that waited for a later iteration of the event loop tell a flood too: a crowd served, not refused.
  const refusals = () => refusalsOf(sockets) + bodies.counts.refused + bodies.counts.evicted + loop.deferred + otherRefusals();
  const calm = () => sockets.counts.open <= config.maxConnections / 10 && bodies.counts.held <= config.bodyBudgetBytes / 10;
  const largestBody = (path: string) =>
    path === GRAPHQL_PATH ? config.graphql.maxBodyBytes : path === BILLING_PATH + WEBHOOK_ROUTE ? WEBHOOK_BODY_BYTES : REST_BODY_BYTES;
  return {
    ...guarded(server, sockets, refusals, calm, { port: config.port, setting: "PORT", acceptors: config.acceptors }),
    bodies,
    loop,
    serve(api, tenantOf) {
      // The request's context first (its path and client address, read by everything after), then
      // its start within the event loop's share of its client (admission/loop-share.ts).
      sockets.attach(server, withContext(trustProxy, sharingLoop(loop, tenantOf, admitBodies(bodies, largestBody, api))));
    },
  };
}

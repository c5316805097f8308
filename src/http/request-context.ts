import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import proxyAddr from "proxy-addr";
import type {} from "postgraphile/grafserv/node";
import type { SessionClaims } from "../auth/tokens.ts";
import type { AnswerOverride } from "../graphql/answer-status.ts";
import { clientOfAddress } from "../admission/client-address.ts";

/** A request's turn in the server's line (src/admission/concurrency.ts), which it can give back early and take again. */
export interface ServerTurn {
  /** Gives the turn back before the answer (once): a request that waits in another line (bcrypt's, new documents'). */
  leave(): void;
  /** Takes a turn again; rejects with ServerLineFullError when the line is full. */
  retake(): Promise<void>;
}

/**
 * What the steps of one request learn about it, in one typed object opened as the request arrives
 * (`withContext`), on every path: REST on Express, /graphql on its plain steps, and GraphQL's
 * context callback and plugins (`contextOf`). Nothing about a request travels elsewhere (no
 * `res.locals`, no map keyed on the request).
 */
export interface RequestContext {
  /** The path of the request target, without its query string (before any router rewrites it). */
  readonly path: string;
  /** The address the request came from (TRUST_PROXY says whose X-Forwarded-For to believe). */
  readonly clientIp: string;
  /** The client it is weighed as in the lines: its IPv4 address, or its IPv6 /64 (src/admission/client-address.ts). */
  readonly client: string;
  /** The tenant its bearer token speaks for, once verified (bearer.ts, bearerTenant): null for no valid token. */
  bearerTenant?: number | null;
  /** The verified session (bearer.ts); absent for anonymous requests. */
  session?: SessionClaims;
  /** Its id, sent back in X-Request-Id and written on each of its log lines (logging.ts). */
  requestId?: string;
  /** The logger `req.log` is made from (with the id bound), once something logs (logging.ts). */
  logger?: Logger;
  /** The path a REST router is mounted at, as declared (metrics' route label, see metrics.ts). */
  mountPath?: string;
  /** Its turn in the server's line, once it has one (src/admission/concurrency.ts). */
  serverTurn?: ServerTurn;
  /** What GraphQL's execution decided about the HTTP answer (graphql/answer-status.ts). */
  answer?: AnswerOverride;
  /** True once answered 404 for a path no route serves (its log line is one of a summary, logging.ts). */
  unknownPath?: boolean;
  /** True for a subscription socket's upgrade request (src/live/sockets.ts): subscriptions only, and only there. */
  websocket?: boolean;
}

declare module "http" {
  interface IncomingMessage {
    /** Set by `withContext`, first thing, on every request the server's listeners take. */
    context: RequestContext;
  }
}

/** The path of a request target, without its query string. */
export function pathOf(url: string | undefined): string {
  const target = url ?? "/";
  const query = target.indexOf("?");
  return query < 0 ? target : target.slice(0, query);
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** A request's context as it arrives: its path and client address. `trustProxy`: Express's compiled `trust proxy` (TRUST_PROXY). */
export function openContext(req: IncomingMessage, trustProxy: (address: string, hop: number) => boolean): RequestContext {
  // No address at all when the socket was closed before its request is served (an evicted socket).
  const clientIp = (proxyAddr(req, trustProxy) as string | undefined) ?? "unknown";
  return { path: pathOf(req.url), clientIp, client: clientOfAddress(clientIp) };
}

/** The listener, with each request's context opened first. */
export function withContext(trustProxy: (address: string, hop: number) => boolean, listener: Listener): Listener {
  return (req, res) => {
    req.context = openContext(req, trustProxy);
    listener(req, res);
  };
}

/**
 * The context of the request a GraphQL operation came with; undefined when grafserv is served by
 * another adapter than the server's pipeline (the benchmark's variants) or without HTTP.
 */
export function contextOf(requestContext: Partial<Grafast.RequestContext> | undefined): RequestContext | undefined {
  return requestContext?.node?.req.context ?? requestContext?.ws?.request?.context;
}

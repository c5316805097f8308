import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { CloseCode, makeServer, type Context } from "graphql-ws";
import jwt from "jsonwebtoken";
import { GraphQLError } from "postgraphile/graphql";
import { makeGraphQLWSConfig, type GrafservBase } from "postgraphile/grafserv";
import { WebSocketServer, type WebSocket } from "ws";
import type { SessionClaims } from "../auth/tokens.ts";
import type { LiveConfig } from "../config/live.ts";
import { GRAPHQL_PATH } from "../graphql/context.ts";
import { openContext } from "../http/request-context.ts";
import { SendBudget } from "./send-budget.ts";

/** Standard close codes: try again later (a cap), policy violation (too many messages). */
const TRY_AGAIN_LATER = 1013;
const POLICY_VIOLATION = 1008;
/** Time a client has to answer the server's close frame before its socket is destroyed. */
const CLOSE_ANSWER_MS = 1_000;

/**
 * Closes `ws` with `code`, and destroys its socket if the client has not answered the close frame
 * within CLOSE_ANSWER_MS: ws waits 30 s for the answer, so 12,000 upgrades that never signed in
 * nor answered held their sockets and memory (+78 %) until the next ping (the ninth outside attack
 * on issue 24), not the `LIVE_CONNECT_TIMEOUT_MS` after which graphql-ws closes them.
 */
function closeFirmly(ws: WebSocket, code?: number, reason?: string): void {
  ws.close(code, reason);
  const destroy = setTimeout(() => ws.terminate(), CLOSE_ANSWER_MS).unref();
  ws.once("close", () => clearTimeout(destroy));
}

export interface LiveSocketOptions {
  limits: LiveConfig;
  /** Verifies an access token and its session (the database's check), or throws. */
  authorize: (token: string) => Promise<SessionClaims>;
  /** Origins allowed besides the API's own (CORS_ORIGINS). */
  corsOrigins: string[];
  trustProxy: (address: string, hop: number) => boolean;
  /** Largest message a client may send (GRAPHQL_MAX_BODY_BYTES). */
  maxMessageBytes: number;
  /** Notes the socket as a WebSocket for the listener's guard (never evicted as idle). */
  upgraded: (socket: Socket) => void;
  /**
   * Every signed-in socket's connection_ack waits for it: the database knows the tenant is listened
   * for (listened-tenants.ts), so its writers notify before any subscription can start.
   */
  tenantJoined: (tenant: number) => Promise<void>;
}

interface Holder {
  socket: WebSocket;
  token: string;
  session: SessionClaims;
  expiry: NodeJS.Timeout;
}

/** What a graphql-ws context carries here (`extra`): the socket and its upgrade request. */
interface Extra {
  socket: WebSocket;
  request: IncomingMessage;
}

/**
 * GraphQL subscriptions over WebSocket at /graphql (graphql-ws), on grafserv's execution (its
 * graphql-ws configuration: the same gate, plans and error masking as POST /graphql). What is ours:
 * the upgrade's checks (origin, sockets of the process and of the address), the token at
 * `connection_init` (verified with its session, like a bearer token), sockets per tenant,
 * subscriptions per socket, closing at the token's expiry and at once when its session ends
 * (4403), and slow consumers closed (1013) rather than buffered.
 */
export class LiveSockets {
  readonly #options: LiveSocketOptions;
  readonly #server: WebSocketServer;
  readonly #graphqlWs: ReturnType<typeof makeServer<Record<string, unknown> | undefined, Extra>>;
  readonly #byAddress = new Map<string, number>();
  readonly #byTenant = new Map<number, number>();
  readonly #bySession = new Map<string, Set<Holder>>();
  readonly #holders = new Map<WebSocket, Holder>();
  /** Sockets that answered the last ping (or opened since). */
  readonly #answered = new Set<WebSocket>();
  readonly #pinging: NodeJS.Timeout;
  /** Sign-ins and subscription starts of the whole process, a second (LIVE_STARTS_PER_SECOND). */
  readonly #starts: () => boolean;
  /** Unread bytes per socket and for the process (LIVE_SEND_BUFFER_BYTES, LIVE_SEND_BUFFER_TOTAL_MB). */
  readonly sendBudget: SendBudget;
  #open = 0;
  readonly counts = {
    refused: 0,
    busy: 0,
    slowConsumers: 0,
    unanswered: 0,
    sessionsEnded: 0,
    expired: 0,
    protocolErrors: 0,
    tooManyMessages: 0,
  };

  constructor(serv: GrafservBase, options: LiveSocketOptions) {
    this.#options = options;
    this.#server = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes });
    const grafserv = makeGraphQLWSConfig(serv);
    this.#starts = messageAllowance(options.limits.startsPerSecond);
    const { sendBufferBytes, sendBufferTotalBytes } = options.limits;
    this.sendBudget = new SendBudget(sendBufferBytes, sendBufferTotalBytes, (ws) => this.#slowConsumer(ws));
    this.#graphqlWs = makeServer<Record<string, unknown> | undefined, Extra>({
      ...grafserv,
      connectionInitWaitTimeout: options.limits.connectTimeoutMs,
      onConnect: (ctx) => this.#connect(ctx),
      onSubscribe: (ctx, id, payload) => {
        if (Object.keys(ctx.subscriptions).length > options.limits.subscriptionsPerSocket) {
          return [tooManySubscriptions(options.limits.subscriptionsPerSocket)]; // this one counted
        }
        if (!this.#starts()) {
          this.counts.busy += 1;
          return [busyStarting()];
        }
        return grafserv.onSubscribe!(ctx, id, payload);
      },
    });
    this.#pinging = setInterval(() => this.#ping(), options.limits.pingMs).unref();
  }

  /** Open sockets (for /metrics). */
  get open(): number {
    return this.#open;
  }

  /** The server's `upgrade` listener: checks, then hands the socket to graphql-ws. */
  readonly upgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    req.context = { ...openContext(req, this.#options.trustProxy), websocket: true };
    const refusal = this.#refusal(req);
    if (refusal) {
      this.counts.refused += 1;
      return refuseUpgrade(socket, refusal);
    }
    const { client } = req.context;
    this.#count(this.#byAddress, client, 1);
    this.#open += 1;
    socket.once("close", () => {
      this.#count(this.#byAddress, client, -1);
      this.#open -= 1;
    });
    this.#options.upgraded(socket);
    this.#server.handleUpgrade(req, socket, head, (ws) => this.#opened(ws, req));
  };

  /** A session ended (logout, password change, deactivation…): its sockets close at once. */
  sessionEnded(sessionId: string): void {
    for (const holder of this.#bySession.get(sessionId) ?? []) {
      this.counts.sessionsEnded += 1;
      closeFirmly(holder.socket, CloseCode.Forbidden, "Session ended");
    }
  }

  /** After notifications may have been lost: every socket's session is checked again. */
  async recheckSessions(): Promise<void> {
    for (const holder of [...this.#holders.values()]) {
      await this.#options.authorize(holder.token).catch(() => this.sessionEnded(holder.session.sessionId));
    }
  }

  close(): void {
    clearInterval(this.#pinging);
    this.sendBudget.stop();
    for (const socket of this.#server.clients) socket.terminate();
    this.#server.close();
  }

  #refusal(req: IncomingMessage): [number, string, string] | undefined {
    const { limits, corsOrigins } = this.#options;
    if (req.context.path !== GRAPHQL_PATH) return [404, "NOT_FOUND", "WebSockets are served at /graphql"];
    const origin = req.headers.origin;
    if (origin && !corsOrigins.includes(origin) && !sameOrigin(origin, req.headers.host)) {
      return [403, "FORBIDDEN", "This origin may not open a WebSocket (CORS_ORIGINS)"];
    }
    if (this.#open >= limits.maxSockets) return [503, "BUSY", "Too many subscription sockets: try again later"];
    if ((this.#byAddress.get(req.context.client) ?? 0) >= limits.socketsPerAddress) {
      return [429, "TOO_MANY_REQUESTS", "Too many subscription sockets from this address"];
    }
    return undefined;
  }

  #opened(ws: WebSocket, request: IncomingMessage): void {
    this.#answered.add(ws);
    ws.on("pong", () => this.#answered.add(ws));
    // A frame the protocol refuses (too large, unmasked, bad UTF-8, reserved opcode): ws closes the socket with its code.
    ws.on("error", () => (this.counts.protocolErrors += 1));
    const allowance = messageAllowance(this.#options.limits.messagesPerSecond);
    const closed = this.#graphqlWs.opened(
      {
        protocol: ws.protocol,
        // Handed to the socket without waiting for the client to read it (a delivery's turn is not
        // held by a slow reader); a reader that leaves more than its share unread is closed (send-budget.ts).
        send: (data) => {
          if (!this.sendBudget.send(ws, data)) this.#slowConsumer(ws);
          return Promise.resolve();
        },
        close: (code, reason) => closeFirmly(ws, code, reason),
        onMessage: (handle) =>
          ws.on("message", (data: Buffer) => {
            if (!allowance()) {
              if (ws.readyState === ws.OPEN) this.counts.tooManyMessages += 1;
              return closeFirmly(ws, POLICY_VIOLATION, "Too many messages");
            }
            // What graphql-ws throws on is a message out of place (a client's `next`, a second ack): the client's mistake.
            handle(data.toString()).catch(() => closeFirmly(ws, CloseCode.BadRequest, "Invalid message"));
          }),
      },
      { socket: ws, request },
    );
    ws.once("close", (code, reason) => {
      this.#answered.delete(ws);
      this.#forget(ws);
      void closed(code, reason.toString());
    });
  }

  /** connection_init: the token (connectionParams.authorization, with or without "Bearer "), then the tenant's share. */
  async #connect(ctx: Context<Record<string, unknown> | undefined, Extra>): Promise<boolean> {
    const { socket, request } = ctx.extra;
    if (!this.#starts()) {
      this.counts.busy += 1;
      closeFirmly(socket, TRY_AGAIN_LATER, "Too many sign-ins and subscriptions at once: try again later");
      return false;
    }
    const sent = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
    const token = typeof sent === "string" ? sent.replace(/^Bearer\s+/i, "").trim() : "";
    const session = token ? await this.#options.authorize(token).catch(() => undefined) : undefined;
    if (!session) return false;
    if ((this.#byTenant.get(session.tenantId) ?? 0) >= this.#options.limits.socketsPerTenant) {
      this.counts.refused += 1;
      closeFirmly(socket, TRY_AGAIN_LATER, "Too many subscription sockets for this tenant");
      return false;
    }
    if (socket.readyState !== socket.OPEN) return false;
    request.context.session = session;
    this.#hold(socket, token, session);
    await this.#options.tenantJoined(session.tenantId);
    return socket.readyState === socket.OPEN;
  }

  /** The tenants with signed-in sockets here (listened-tenants.ts tells them to the database). */
  get tenants(): number[] {
    return [...this.#byTenant.keys()];
  }

  #hold(socket: WebSocket, token: string, session: SessionClaims): void {
    const expiresAt = ((jwt.decode(token) as jwt.JwtPayload | null)?.exp ?? 0) * 1000;
    const expiry = setTimeout(
      () => {
        this.counts.expired += 1;
        closeFirmly(socket, CloseCode.Forbidden, "Token expired");
      },
      Math.max(0, expiresAt - Date.now()),
    );
    const holder = { socket, token, session, expiry };
    this.#holders.set(socket, holder);
    this.#count(this.#byTenant, session.tenantId, 1);
    const held = this.#bySession.get(session.sessionId) ?? new Set();
    held.add(holder);
    this.#bySession.set(session.sessionId, held);
  }

  #forget(socket: WebSocket): void {
    const holder = this.#holders.get(socket);
    if (!holder) return;
    this.#holders.delete(socket);
    clearTimeout(holder.expiry);
    this.#count(this.#byTenant, holder.session.tenantId, -1);
    const held = this.#bySession.get(holder.session.sessionId);
    held?.delete(holder);
    if (held?.size === 0) this.#bySession.delete(holder.session.sessionId);
  }

  /** A consumer that leaves more than its share unread is closed, its events dropped. */
  #slowConsumer(ws: WebSocket): void {
    this.counts.slowConsumers += 1;
    ws.terminate();
  }

  /** Pings every socket; one that did not answer the last ping is gone (or reads nothing): terminated. */
  #ping(): void {
    for (const socket of this.#server.clients) {
      if (this.#answered.delete(socket)) socket.ping();
      else {
        this.counts.unanswered += 1;
        socket.terminate();
      }
    }
  }

  #count<K>(counts: Map<K, number>, key: K, change: number): void {
    const next = (counts.get(key) ?? 0) + change;
    if (next > 0) counts.set(key, next);
    else counts.delete(key);
  }
}

/** A token bucket: `perSecond` messages a second, twice as many in a burst; true while a message is allowed. */
function messageAllowance(perSecond: number): () => boolean {
  const burst = 2 * perSecond;
  let tokens = burst;
  let at = Date.now();
  return () => {
    const now = Date.now();
    tokens = Math.min(burst, tokens + ((now - at) * perSecond) / 1000);
    at = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}

function busyStarting(): GraphQLError {
  return new GraphQLError("Too many subscriptions starting at once on this server: try again in a second (LIVE_STARTS_PER_SECOND)", {
    extensions: { code: "BUSY" },
  });
}

function tooManySubscriptions(max: number): GraphQLError {
  return new GraphQLError(`At most ${max} subscriptions at once on one socket (LIVE_SUBSCRIPTIONS_PER_SOCKET)`, {
    extensions: { code: "TOO_MANY_SUBSCRIPTIONS" },
  });
}

/** Whether a browser's Origin is the API's own host (GraphiQL served here). */
function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Answers an upgrade with a plain HTTP refusal and closes the socket. */
function refuseUpgrade(socket: Socket, [status, code, message]: [number, string, string]): void {
  const body = JSON.stringify({ code, message });
  const retry = status === 429 || status === 503 ? "Retry-After: 1\r\n" : "";
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n${retry}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

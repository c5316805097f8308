import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { RecentCounts } from "./fair-line.ts";
import { clientOfAddress } from "./client-address.ts";

/** How the sockets of one listener are bounded (HTTP_MAX_CONNECTIONS and the settings beside it). */
export interface SocketLimits {
  /** Open sockets of all clients together. */
  max: number;
  /** Most sockets of one client (address, IPv6 /64) while few clients are connected; 0: no share (behind a proxy). */
  perClient: number;
  /** A socket with no request received whole this long after it began (or after it connected) is slow. */
  slowMs: number;
  /**
   * At `max`, a new connection may close a socket without a whole request however young it is,
   * but only one of a client at least as heavy as its own, and no share is counted (the probe
   * port: its requests are small and near, its clients few; a prober that connects now and then
   * keeps its sockets whatever a crowd of more addresses than sockets does).
   */
  evictYoung?: boolean;
  /** Time a socket receiving headers or a body has before its rate is measured, and the length of each measure. */
  graceMs: number;
  /** Bytes per second such a socket must send after its grace; 0: no minimum. */
  minRate: number;
}

/** What became of sockets, for /metrics. */
export interface SocketCounts {
  open: number;
  refused: number;
  evicted: number;
  tooSlow: number;
}

/** How often rates are measured. */
const SWEEP_MS = 1_000;
/** The ranking of sockets that may be closed is rebuilt at most this often when it runs out… */
const RANK_MS = 100;
/** …unless there are this few sockets to rank (the probe port's): then as often as it runs out. */
const RANK_FREELY_BELOW = 256;

interface Tracked {
  socket: Socket;
  client: string;
  openedAt: number;
  /** The latest request of the socket, and its answer. */
  request: IncomingMessage | undefined;
  response: ServerResponse | undefined;
  requestAt: number;
  /** Since when the socket is receiving (headers, or a body being read); 0 while it is not. */
  receivingSince: number;
  /** Start of the current rate measure: time and bytes read then. */
  markAt: number;
  markBytes: number;
}

/**
 * The sockets of an HTTP listener, bounded so that a crowd of addresses cannot shut others out:
 * - each client (address, IPv6 /64) holds at most its share, `max` divided by the clients
 *   connected (at most `perClient`): the share shrinks as more addresses connect;
 * - at `max`, a new connection takes the place of a socket that gives nothing back (an idle
 *   keep-alive socket, or one that has not delivered a whole request within `slowMs`, or at all
 *   with `evictYoung`), the heaviest client's first (sockets held plus connections opened in the
 *   last 10–20 s: a crowd that reconnects goes before a prober that connects now and then);
 *   only when there is none is it refused;
 * - a socket receiving headers, or a body the server reads, must send `minRate` bytes a second
 *   after a grace (Apache's mod_reqtimeout MinRate), or it is closed. Node's `headersTimeout`
 *   and `requestTimeout` still bound the whole.
 * Node's `server.maxConnections` only refuses; nothing in Node or in the kept libraries closes
 * the sockets that hold places for nothing, so this is ours.
 */
export class SocketGuard {
  private readonly sockets = new Map<Socket, Tracked>();
  private readonly clients = new Map<string, number>();
  /** Connections of each client lately. */
  private readonly connections = new RecentCounts();
  private candidates: Tracked[] = [];
  private rankedAt = 0;
  private readonly limits: SocketLimits;
  readonly counts: SocketCounts = { open: 0, refused: 0, evicted: 0, tooSlow: 0 };

  constructor(limits: SocketLimits) {
    this.limits = limits;
  }

  /** Guards `server`'s sockets until it closes. */
  attach(server: Server): void {
    server.on("connection", (socket: Socket) => this.admit(socket));
    server.prependListener("request", (req: IncomingMessage, res: ServerResponse) => this.started(req, res));
    const sweeping = setInterval(() => this.sweep(Date.now()), SWEEP_MS).unref();
    server.once("close", () => clearInterval(sweeping));
  }

  /** The most sockets `client` may hold now. */
  shareOf(client: string): number {
    const { max, perClient } = this.limits;
    if (perClient === 0) return Number.POSITIVE_INFINITY;
    const clients = this.clients.size + (this.clients.has(client) ? 0 : 1);
    return Math.min(perClient, Math.max(1, Math.floor(max / clients)));
  }

  private admit(socket: Socket): void {
    const client = clientOfAddress(socket.remoteAddress ?? "unknown");
    const now = Date.now();
    this.connections.add(client);
    // With `evictYoung`, weight alone shares the sockets: a newcomer takes a heavier client's place.
    const overShare = !this.limits.evictYoung && (this.clients.get(client) ?? 0) >= this.shareOf(client);
    const full = overShare || (this.sockets.size >= this.limits.max && !this.evictOne(now, client));
    if (full) {
      this.counts.refused += 1;
      return void socket.destroy();
    }
    const tracked: Tracked = {
      socket, client, openedAt: now, request: undefined, response: undefined, requestAt: now, receivingSince: now, markAt: now, markBytes: 0,
    };
    this.sockets.set(socket, tracked);
    this.clients.set(client, (this.clients.get(client) ?? 0) + 1);
    this.counts.open = this.sockets.size;
    socket.once("close", () => this.forget(tracked));
  }

  private forget(tracked: Tracked): void {
    if (!this.sockets.delete(tracked.socket)) return;
    const left = this.clients.get(tracked.client)! - 1;
    if (left > 0) this.clients.set(tracked.client, left);
    else this.clients.delete(tracked.client);
    this.counts.open = this.sockets.size;
  }

  private started(req: IncomingMessage, res: ServerResponse): void {
    const tracked = this.sockets.get(req.socket);
    if (!tracked) return;
    tracked.request = req;
    tracked.response = res;
    tracked.requestAt = Date.now();
    tracked.receivingSince = 0;
  }

  /** Whether the socket holds its place for nothing: idle after an answer, or no whole request within `slowMs` (or yet, with `evictYoung`). */
  private givesNothing(tracked: Tracked, now: number): boolean {
    const { request, response } = tracked;
    if (response?.writableFinished) return true;
    const slowMs = this.limits.evictYoung ? 0 : this.limits.slowMs;
    if (!request) return now - tracked.openedAt >= slowMs;
    return !request.complete && now - tracked.requestAt >= slowMs;
  }

  /** Closes the socket that most deserves it to make room for `newcomer`'s; false when none gives nothing back (or, with `evictYoung`, none of a client as heavy). */
  private evictOne(now: number, newcomer: string): boolean {
    for (;;) {
      if (this.candidates.length === 0 && !this.rank(now)) return false;
      const victim = this.candidates.at(-1)!;
      if (this.limits.evictYoung && this.compare(victim.client, newcomer) < 0) return false; // the rest are lighter still
      this.candidates.pop();
      if (!this.sockets.has(victim.socket) || !this.givesNothing(victim, now)) continue;
      victim.socket.destroy();
      this.forget(victim);
      this.counts.evicted += 1;
      return true;
    }
  }

  /**
   * The sockets that give nothing back, the heaviest clients' last (they are taken from the end):
   * a crowd's sockets go before a client's one or two, and a client that connected often lately
   * before one that did not; among equals, idle ones, then the oldest.
   */
  private rank(now: number): boolean {
    if (now - this.rankedAt < RANK_MS && this.sockets.size >= RANK_FREELY_BELOW) return false;
    this.rankedAt = now;
    const idle = (t: Tracked) => (t.response?.writableFinished ? 1 : 0);
    this.candidates = [...this.sockets.values()].filter((t) => this.givesNothing(t, now))
      .sort((a, b) => this.compare(a.client, b.client) || idle(a) - idle(b) || b.requestAt - a.requestAt);
    return this.candidates.length > 0;
  }

  /** How `a` weighs against `b` (negative: lighter): sockets held plus connections opened in the last 10–20 s. */
  private compare(a: string, b: string): number {
    const weight = (client: string) => (this.clients.get(client) ?? 0) + this.connections.of(client);
    return weight(a) - weight(b);
  }

  /** Closes the sockets receiving slower than `minRate` after their grace. */
  sweep(now: number): void {
    const { minRate, graceMs } = this.limits;
    if (minRate === 0) return;
    for (const tracked of this.sockets.values()) {
      if (!this.receiving(tracked)) {
        tracked.receivingSince = 0;
        continue;
      }
      const bytes = tracked.socket.bytesRead;
      if (tracked.receivingSince === 0) [tracked.receivingSince, tracked.markAt, tracked.markBytes] = [now, now, bytes];
      if (now - tracked.receivingSince < graceMs || now - tracked.markAt < graceMs) continue;
      if (((bytes - tracked.markBytes) * 1000) / (now - tracked.markAt) < minRate) {
        tracked.socket.destroy();
        this.forget(tracked);
        this.counts.tooSlow += 1;
      } else {
        [tracked.markAt, tracked.markBytes] = [now, bytes];
      }
    }
  }

  /**
   * Receiving headers (no request yet on this socket), or a body the server is reading. A body
   * waiting its turn in the server's lines is not read, so its sender is not to blame; an idle
   * keep-alive socket is Node's (keepAliveTimeout).
   */
  private receiving({ request }: Tracked): boolean {
    return !request || (!request.complete && request.readableFlowing === true);
  }
}

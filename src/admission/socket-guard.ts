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
  /**
   * The share never shrinks below this (nor above `perClient`) while the open sockets are under
   * nine tenths of `max`: a browser's six connections from an address beside a crowd of thousands
   * of one-socket addresses short of the cap (HTTP_CLIENT_CONNECTIONS_FLOOR). Default 1.
   */
  floor?: number;
  /** A socket with no request received whole this long after it began (or after it connected) is slow. */
  slowMs: number;
  /**
   * At `max`, a new connection may close a socket without a whole request however young it is,
   * but only one of a client at least as heavy as its own or one that has given nothing for
   * `PATIENCE_MS`, and no share is counted (the probe
   * port: its requests are small and near, its clients few; a prober that connects now and then
   * keeps its sockets whatever a crowd of more addresses than sockets does).
   */
  evictYoung?: boolean;
  /** Time a socket receiving headers or a body has before its rate is measured, and the length of each measure. */
  graceMs: number;
  /** Bytes per second such a socket must send after its grace; 0: no minimum. */
  minRate: number;
  /**
   * Requests one socket may have in progress at once (HTTP/1.1 pipelining, HTTP_PIPELINED_REQUESTS);
   * beyond, the socket is closed. Node reads a pipelining client's requests as fast as it sends
   * them and keeps each one's request and answer until the earlier ones are answered, so one socket
   * writing 200 requests every 20 ms (and reading its answers) took the server to 4.5 GB (the
   * second outside attack on issue 24). Browsers and HTTP clients do not pipeline.
   */
  pipelined: number;
}

export type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** What became of sockets, for /metrics. */
export interface SocketCounts {
  open: number;
  refused: number;
  evicted: number;
  tooSlow: number;
  /** Closed for pipelining more than `pipelined` requests. */
  pipelined: number;
}

/** How often rates are measured. */
const SWEEP_MS = 1_000;
/**
 * With `evictYoung`, a socket may be closed for a lighter newcomer once it has given nothing this
 * long: a prober's request reaches the server well within it, a crowd's idle socket does not.
 */
const PATIENCE_MS = 250;
/** The ranking of sockets that may be closed is rebuilt at most this often when it runs out… */
const RANK_MS = 100;
/** …unless there are this few sockets to rank (the probe port's): then afresh for every newcomer. */
const RANK_FREELY_BELOW = 256;

interface Tracked {
  socket: Socket;
  client: string;
  openedAt: number;
  /** The latest request of the socket, and its answer; how many of its requests are in progress. */
  request: IncomingMessage | undefined;
  inProgress: number;
  response: ServerResponse | undefined;
  requestAt: number;
  /** Since when the socket is receiving (headers, or a body being read); 0 while it is not. */
  receivingSince: number;
  /** Start of the current rate measure: time and bytes read then. */
  markAt: number;
  markBytes: number;
  /** A WebSocket now (src/live/sockets.ts): quiet by nature, bounded by its own limits, never evicted nor timed here. */
  upgraded: boolean;
}

/**
 * The sockets of an HTTP listener, bounded so that a crowd of addresses cannot shut others out:
 * - each client (address, IPv6 /64) holds at most its share, `max` divided by the clients
 *   connected (at most `perClient`): the share shrinks as more addresses connect;
 * - at `max`, a new connection takes the place of a socket that gives nothing back (an idle
 *   keep-alive socket, or one that has not delivered a whole request within `slowMs`, or at all
 *   with `evictYoung`), the heaviest client's first (sockets held plus sockets closed in the last
 *   10–20 s for giving nothing: a crowd that reconnects goes before a prober whose sockets ask);
 *   only when there is none is it refused;
 * - a socket receiving headers, or a body the server reads, must send `minRate` bytes a second
 *   after a grace (Apache's mod_reqtimeout MinRate), or it is closed. Node's `headersTimeout`
 *   and `requestTimeout` still bound the whole.
 * Node's `server.maxConnections` only refuses; nothing in Node or in the kept libraries closes
 * the sockets that hold their place for nothing, so this is ours.
 */
export class SocketGuard {
  private readonly sockets = new Map<Socket, Tracked>();
  private readonly clients = new Map<string, number>();
  /** Sockets of each client closed lately for giving nothing (no whole request, or too slow). */
  private readonly wasted = new RecentCounts();
  private candidates: Tracked[] = [];
  private rankedAt = 0;
  /** Sockets without a whole request however young, the heaviest clients' last: the main port's last resort at the cap. */
  private young: Tracked[] = [];
  private youngRankedAt = 0;
  private readonly limits: SocketLimits;
  readonly counts: SocketCounts = { open: 0, refused: 0, evicted: 0, tooSlow: 0, pipelined: 0 };

  constructor(limits: SocketLimits) {
    this.limits = limits;
  }

  /** Guards `server`'s sockets until it closes, and hands `listener` the requests of the sockets it keeps. */
  attach(server: Server, listener: Listener): void {
    server.on("connection", (socket: Socket) => this.admit(socket));
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      if (this.started(req, res)) listener(req, res);
    });
    const sweeping = setInterval(() => this.sweep(Date.now()), SWEEP_MS).unref();
    server.once("close", () => clearInterval(sweeping));
  }

  /** Notes that `socket` became a WebSocket: it still counts for its client, but is never evicted nor timed as HTTP. */
  upgraded(socket: Socket): void {
    const tracked = this.sockets.get(socket);
    if (tracked) tracked.upgraded = true;
  }

  /** The most sockets `client` may hold now. */
  shareOf(client: string): number {
    const { max, perClient } = this.limits;
    if (perClient === 0) return Number.POSITIVE_INFINITY;
    const clients = this.clients.size + (this.clients.has(client) ? 0 : 1);
    const floor = this.sockets.size < max * 0.9 ? (this.limits.floor ?? 1) : 1;
    return Math.min(perClient, Math.max(floor, Math.floor(max / clients)));
  }

  private admit(socket: Socket): void {
    const client = clientOfAddress(socket.remoteAddress ?? "unknown");
    const now = Date.now();
    // With `evictYoung`, weight alone shares the sockets: a newcomer takes a heavier client's place.
    const overShare = !this.limits.evictYoung && (this.clients.get(client) ?? 0) >= this.shareOf(client);
    const full = overShare || (this.sockets.size >= this.limits.max && !this.evictOne(now, client));
    if (full) {
      this.counts.refused += 1;
      return void socket.destroy();
    }
    const tracked: Tracked = {
      socket,
      client,
      openedAt: now,
      request: undefined,
      inProgress: 0,
      response: undefined,
      requestAt: now,
      receivingSince: now,
      markAt: now,
      markBytes: 0,
      upgraded: false,
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

  /** Notes the socket's new request; false when it is one pipelined too many (the socket is closed). */
  private started(req: IncomingMessage, res: ServerResponse): boolean {
    const tracked = this.sockets.get(req.socket);
    if (!tracked) return !req.socket.destroyed;
    if (tracked.inProgress >= this.limits.pipelined) {
      tracked.socket.destroy();
      this.forget(tracked);
      this.counts.pipelined += 1;
      return false;
    }
    tracked.inProgress += 1;
    res.once("close", () => (tracked.inProgress -= 1));
    tracked.request = req;
    tracked.response = res;
    tracked.requestAt = Date.now();
    tracked.receivingSince = 0;
    return true;
  }

  /** Whether the socket holds its place for nothing: idle after an answer, or no whole request within `slowMs` (or yet, with `evictYoung`). */
  private givesNothing(tracked: Tracked, now: number, slowMs = this.limits.evictYoung ? 0 : this.limits.slowMs): boolean {
    const { request, response } = tracked;
    if (tracked.upgraded) return false;
    if (response?.writableFinished) return true;
    if (!request) return now - tracked.openedAt >= slowMs;
    return !request.complete && now - tracked.requestAt >= slowMs;
  }

  /** Closes the socket that most deserves it to make room for `newcomer`'s; false when none gives nothing back (or, with `evictYoung`, none of a client as heavy and none for long). */
  private evictOne(now: number, newcomer: string): boolean {
    // A ranking made before the newest connections does not hold them: a few sockets are ranked afresh.
    if (this.sockets.size < RANK_FREELY_BELOW) this.candidates = [];
    for (;;) {
      if (this.candidates.length === 0 && !this.rank(now)) return !this.limits.evictYoung && this.evictYoungFor(newcomer, now);
      const victim = this.limits.evictYoung ? this.takeVictimFor(newcomer, now) : this.candidates.pop()!;
      if (!victim) return false;
      if (!this.sockets.has(victim.socket) || !this.givesNothing(victim, now)) continue;
      return this.evict(victim);
    }
  }

  private evict(victim: Tracked): true {
    victim.socket.destroy();
    this.forget(victim);
    this.counts.evicted += 1;
    if (!victim.request?.complete) this.wasted.add(victim.client);
    return true;
  }

  /**
   * The main port at its cap with no socket idle or slow for long: a crowd reconnecting as fast as
   * it is closed keeps every socket younger than `slowMs` (the eighth outside attack: 5,000
   * addresses × 4 idle sockets, new ones at once, reset 1 in 20 of a tenant's new connections).
   * Then a newcomer lighter than the heaviest client takes the place of one of that client's
   * sockets without a whole request, however young; a newcomer as heavy as the heaviest is refused.
   */
  private evictYoungFor(newcomer: string, now: number): boolean {
    if (this.young.length === 0) {
      if (now - this.youngRankedAt < RANK_MS) return false;
      this.youngRankedAt = now;
      this.young = this.ranked((t) => this.givesNothing(t, now, 0));
    }
    for (let victim = this.young.at(-1); victim && this.compare(victim.client, newcomer) > 0; victim = this.young.at(-1)) {
      this.young.pop();
      if (this.sockets.has(victim.socket) && this.givesNothing(victim, now, 0)) return this.evict(victim);
    }
    return false;
  }

  /**
   * With `evictYoung`: the heaviest client's socket if that client weighs at least as much as
   * `newcomer`; else the socket that has given nothing longest, if for `PATIENCE_MS` at least. A
   * crowd of more addresses than sockets, each connecting no more often than a prober, cannot
   * refuse the prober: its sockets wait idle, the prober's asks at once.
   */
  private takeVictimFor(newcomer: string, now: number): Tracked | undefined {
    if (this.compare(this.candidates.at(-1)!.client, newcomer) >= 0) return this.candidates.pop();
    let longest = -1;
    this.candidates.forEach((t, i) => {
      if (now - t.requestAt >= PATIENCE_MS && (longest < 0 || t.requestAt < this.candidates[longest].requestAt)) longest = i;
    });
    return longest < 0 ? undefined : this.candidates.splice(longest, 1)[0];
  }

  /**
   * The sockets that give nothing back, the heaviest clients' last (they are taken from the end):
   * a crowd's sockets go before a client's one or two, and a client whose sockets were closed for
   * giving nothing lately before one whose sockets ask; among equals, idle ones, then the oldest.
   */
  private rank(now: number): boolean {
    if (now - this.rankedAt < RANK_MS && this.sockets.size >= RANK_FREELY_BELOW) return false;
    this.rankedAt = now;
    this.candidates = this.ranked((t) => this.givesNothing(t, now));
    return this.candidates.length > 0;
  }

  /** The sockets `which` picks, the heaviest clients' last; among equals, idle ones, then the oldest. Each client weighed once. */
  private ranked(which: (t: Tracked) => boolean): Tracked[] {
    const weights = new Map<string, number>();
    const weight = (client: string) => weights.get(client) ?? weights.set(client, this.weight(client)).get(client)!;
    const idle = (t: Tracked) => (t.response?.writableFinished ? 1 : 0);
    return [...this.sockets.values()]
      .filter(which)
      .sort((a, b) => weight(a.client) - weight(b.client) || idle(a) - idle(b) || b.requestAt - a.requestAt);
  }

  /** How `a` weighs against `b` (negative: lighter): sockets held plus sockets closed for giving nothing in the last 10–20 s. */
  private compare(a: string, b: string): number {
    return this.weight(a) - this.weight(b);
  }

  private weight(client: string): number {
    return (this.clients.get(client) ?? 0) + this.wasted.of(client);
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
        this.wasted.add(tracked.client);
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
  private receiving({ request, upgraded }: Tracked): boolean {
    if (upgraded) return false;
    return !request || (!request.complete && request.readableFlowing === true);
  }
}

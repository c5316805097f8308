import type { IncomingMessage, ServerResponse } from "node:http";
import { sendError, type Answer } from "../http/errors.ts";

interface Reservation {
  request: IncomingMessage;
  client: string;
  bytes: number;
  released: boolean;
}

/** What the budget holds and held, for /metrics. */
export interface BudgetCounts {
  held: number;
  peak: number;
  refused: number;
  evicted: number;
}

/**
 * The bytes that request bodies may hold in memory, summed over every request in progress
 * (HTTP_BODY_BUDGET_MB): room is reserved as a request arrives, for its declared length (or the
 * largest body its route takes), before a byte of the body is buffered, and given back when its
 * answer is done. A body that finds no room takes it from the client holding the most, when that
 * client holds more than the newcomer would: the heaviest client's oldest body still arriving
 * loses its socket (a crowd's slow bodies go before a tenant's small one). Otherwise the newcomer
 * is refused. raw-body and express's parsers bound one body, not their sum; nothing kept bounds the sum.
 */
export class BodyBudget {
  private readonly budget: number;
  private readonly byClient = new Map<string, { bytes: number; reservations: Set<Reservation> }>();
  readonly counts: BudgetCounts = { held: 0, peak: 0, refused: 0, evicted: 0 };

  constructor(budget: number) {
    this.budget = budget;
  }

  /** Reserves `bytes` for `request`'s body until `response` closes; false when there is no room. */
  reserve(client: string, request: IncomingMessage, response: ServerResponse, bytes: number): boolean {
    if (this.counts.held + bytes > this.budget && !this.makeRoom(client, bytes)) {
      this.counts.refused += 1;
      return false;
    }
    const reservation: Reservation = { request, client, bytes, released: false };
    const holder = this.byClient.get(client) ?? { bytes: 0, reservations: new Set<Reservation>() };
    this.byClient.set(client, holder);
    holder.bytes += bytes;
    holder.reservations.add(reservation);
    this.counts.held += bytes;
    this.counts.peak = Math.max(this.counts.peak, this.counts.held);
    response.once("close", () => this.release(reservation));
    return true;
  }

  private release(reservation: Reservation): void {
    if (reservation.released) return;
    reservation.released = true;
    const holder = this.byClient.get(reservation.client)!;
    holder.bytes -= reservation.bytes;
    holder.reservations.delete(reservation);
    if (holder.reservations.size === 0) this.byClient.delete(reservation.client);
    this.counts.held -= reservation.bytes;
  }

  /** Closes the heaviest client's bodies still arriving while it holds more than `client` would; true once `bytes` fit. */
  private makeRoom(client: string, bytes: number): boolean {
    const wanted = (this.byClient.get(client)?.bytes ?? 0) + bytes;
    while (this.counts.held + bytes > this.budget) {
      const victim = this.heaviestArriving(wanted);
      if (!victim) return false;
      victim.request.socket.destroy();
      this.release(victim);
      this.counts.evicted += 1;
    }
    return true;
  }

  /** The oldest body still arriving of the client holding the most, when it holds more than `than`. */
  private heaviestArriving(than: number): Reservation | undefined {
    let heaviest: { bytes: number; reservations: Set<Reservation> } | undefined;
    for (const holder of this.byClient.values()) if (holder.bytes > (heaviest?.bytes ?? than)) heaviest = holder;
    if (!heaviest) return undefined;
    for (const reservation of heaviest.reservations) if (!reservation.request.complete) return reservation;
    return undefined;
  }
}

/** The refusal of a body that finds no room: the sender may retry at once elsewhere, or here in a second. */
const NO_ROOM: Answer = {
  status: 503,
  code: "BUSY",
  message: "The server is receiving too many request bodies; retry in a second",
  retryAfterSeconds: 1,
};

/**
 * The server's request listener behind the budget: a request with a body reserves room for it
 * (its Content-Length, or `largestBody(path)` when chunked, never more than that) before anything
 * else; without room it is answered 503 BUSY and its connection closed (by Node, once the answer has
 * left), its body never read.
 */
export function admitBodies(
  budget: BodyBudget,
  largestBody: (path: string) => number,
  listener: (req: IncomingMessage, res: ServerResponse) => void,
) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const declared = req.headers["content-length"];
    if (declared === undefined && req.headers["transfer-encoding"] === undefined) return listener(req, res);
    const { path, client } = req.context;
    const bytes = Math.min(declared === undefined ? Number.POSITIVE_INFINITY : Number(declared) || 0, largestBody(path));
    if (bytes === 0 || budget.reserve(client, req, res, bytes)) return listener(req, res);
    res.shouldKeepAlive = false;
    sendError(req, res, NO_ROOM);
  };
}

import type { NextFunction, Request, Response } from "express";
import { busy } from "../auth/errors.ts";
import { sendError, type Answer } from "./errors.ts";

const TOO_MANY_REQUESTS: Answer = {
  status: 429, code: "TOO_MANY_REQUESTS", message: "Too many requests in progress from this address", retryAfterSeconds: 1,
};
/** The same refusal as bcrypt's full line (auth/errors.ts). */
const BUSY: Answer = busy();

/** How many requests are worked on at once, and how many may wait their turn. */
export interface Concurrency {
  active: number;
  waiting: number;
}

/** Turns for at most `active` requests at once, `waiting` more in line (first come, first served). */
class Turns {
  active = 0;
  private readonly line: Array<() => void> = [];
  private readonly limits: Concurrency;

  constructor(limits: Concurrency) {
    this.limits = limits;
  }

  /** Starts `begin` now or when a turn frees; false when the line is full (nothing is queued). */
  take(begin: () => void): boolean {
    if (this.active < this.limits.active) {
      this.active += 1;
      begin();
      return true;
    }
    if (this.line.length >= this.limits.waiting) return false;
    this.line.push(begin);
    return true;
  }

  /** The turn passes to the next in line, or is given back. */
  give(): void {
    const next = this.line.shift();
    if (next) next();
    else this.active -= 1;
  }
}

/**
 * Runs the rest of the request in a turn: `next()` when it is the request's turn, the turn given
 * back once the response is finished or the client left. A client that left while it waited
 * gives its turn on at once, before any work is done for it.
 */
function inTurn(turns: Turns, req: Request, res: Response, next: NextFunction, refusal: Answer, onGiveBack?: () => void): void {
  const giveBack = () => {
    turns.give();
    onGiveBack?.();
  };
  const begin = () => {
    if (res.socket?.destroyed !== false) return giveBack();
    res.once("close", giveBack);
    next();
  };
  if (!turns.take(begin)) sendError(req, res, refusal);
}

/**
 * Fairness between clients: each address has at most `active` requests in progress; the next
 * ones wait their turn (no CPU spent on them), and beyond `waiting` the answer is 429 at once. A
 * client flooding the server with expensive requests then slows itself, not the others (nor the
 * health checks, which are not counted). Behind a proxy, TRUST_PROXY makes the address the client's.
 */
export function clientConcurrency(limits: Concurrency) {
  const clients = new Map<string, Turns>();
  return (req: Request, res: Response, next: NextFunction) => {
    const address = req.ip ?? "unknown";
    const turns = clients.get(address) ?? new Turns(limits);
    clients.set(address, turns);
    inTurn(turns, req, res, next, TOO_MANY_REQUESTS, () => {
      if (turns.active === 0) clients.delete(address);
    });
  };
}

/**
 * Load shedding for the whole server: at most `active` requests in progress from all clients
 * together, `waiting` more in line; beyond, 503 BUSY with Retry-After at once, before the body is
 * read. Many addresses flooding together then cannot queue unbounded work in the event loop, and
 * the probes (not counted) keep answering in milliseconds. Requests with a bounded line of their
 * own (`hasOwnLine`: the routes that hash a password) skip this one.
 */
export function serverConcurrency(limits: Concurrency, hasOwnLine: (req: Request) => boolean) {
  const turns = new Turns(limits);
  return (req: Request, res: Response, next: NextFunction) => (hasOwnLine(req) ? next() : inTurn(turns, req, res, next, BUSY));
}

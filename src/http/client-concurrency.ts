import type { NextFunction, Request, Response } from "express";
import { sendError } from "./errors.ts";

const TOO_MANY_REQUESTS = {
  status: 429, code: "TOO_MANY_REQUESTS", message: "Too many requests in progress from this address", retryAfterSeconds: 1,
};

/** How many requests of one client address the server works on at once, and how many may wait. */
export interface ClientConcurrency {
  active: number;
  waiting: number;
}

interface Client {
  active: number;
  waiting: Array<() => void>;
}

/**
 * Fairness between clients: each address has at most `active` requests in progress; the next
 * ones wait their turn (no CPU spent on them), and beyond `waiting` the answer is 429 at once. A
 * client flooding the server with expensive requests then slows itself, not the others (nor the
 * health checks, which are not counted). Behind a proxy, TRUST_PROXY makes the address the client's.
 */
export function clientConcurrency({ active, waiting }: ClientConcurrency) {
  const clients = new Map<string, Client>();
  return (req: Request, res: Response, next: NextFunction) => {
    const address = req.ip ?? "unknown";
    const client = clients.get(address) ?? { active: 0, waiting: [] };
    clients.set(address, client);
    const release = () => {
      const turn = client.waiting.shift();
      if (turn) return turn();
      client.active -= 1;
      if (client.active === 0) clients.delete(address);
    };
    const start = () => {
      if (res.socket?.destroyed !== false) return release(); // the client left while it waited
      res.once("close", release); // finished or aborted: either way the slot is free
      next();
    };
    if (client.active < active) {
      client.active += 1;
      return start();
    }
    if (client.waiting.length >= waiting) {
      return sendError(req, res, TOO_MANY_REQUESTS);
    }
    client.waiting.push(start);
  };
}

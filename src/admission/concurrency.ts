import type { IncomingMessage, ServerResponse } from "node:http";
import { busy } from "../errors.ts";
import { FairLine, RecentCounts, type LineLimits } from "./fair-line.ts";
import { isTenantClient } from "./client-address.ts";
import { sendError, type Answer } from "../http/errors.ts";
import type { RequestStep } from "../http/pipeline.ts";

const TOO_MANY_REQUESTS: Answer = {
  status: 429,
  code: "TOO_MANY_REQUESTS",
  message: "Too many requests in progress from this address",
  retryAfterSeconds: 1,
};
/** The same refusal as bcrypt's full line (src/errors.ts). */
const BUSY: Answer = busy();

/** How many requests are worked on at once, and how many may wait their turn. */
export type Concurrency = LineLimits;

/** When a request's turn ends: once its answer is handed to Node ("end"), or when its connection closes. */
type TurnEnd = "end" | "close";

/**
 * Runs the rest of the request in a turn of `line`: `next()` when it is the request's turn; the
 * turn is given back once, when `endsAt` happens or the client left. A client that left while it
 * waited gives its turn on at once, before any work is done for it, and is refused (an answer
 * nobody reads, but whoever waits on the turn, a request re-entering the line, hears of it).
 */
function inTurn(
  line: FairLine,
  endsAt: TurnEnd,
  client: string,
  req: IncomingMessage,
  res: ServerResponse,
  next: () => void,
  refuse: () => void,
  onGiveBack?: () => void,
): () => void {
  let given = false;
  const giveBack = () => {
    if (given) return;
    given = true;
    line.give();
    onGiveBack?.();
  };
  const begin = () => {
    if (req.socket.destroyed) {
      // res.socket is null while a pipelined request waits for the one before
      giveBack();
      return refuse();
    }
    res.once("close", giveBack);
    if (endsAt === "end") giveBackOnEnd(res, giveBack);
    next();
  };
  line.weigh(client);
  line.take(client, begin, refuse);
  return giveBack;
}

/** Thrown when a request that left the server's line finds it full on its way back (503 BUSY). */
export class ServerLineFullError extends Error {}

/** Calls `giveBack` as the answer is handed to Node, not when the client has read it all. */
function giveBackOnEnd(res: ServerResponse, giveBack: () => void): void {
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.end = ((...args: unknown[]) => {
    giveBack();
    return end(...args);
  }) as ServerResponse["end"];
}

/**
 * Fairness between clients: each address has at most `active` requests in progress; the next
 * ones wait their turn (no CPU spent on them), and beyond `waiting` the answer is 429 at once. A
 * client flooding the server with expensive requests then slows itself, not the others (nor the
 * health checks, which are not counted). A turn lasts until the connection has taken the whole
 * answer: a client that does not read its answers holds its own turns, no one else's. Behind a
 * proxy, TRUST_PROXY makes the address the client's.
 */
export function clientConcurrency(limits: Concurrency): RequestStep {
  const clients = new Map<string, FairLine>();
  return (req, res, next) => {
    const address = req.context.client;
    const line = clients.get(address) ?? new FairLine(limits);
    clients.set(address, line);
    inTurn(
      line,
      "close",
      address,
      req,
      res,
      next,
      () => sendError(req, res, TOO_MANY_REQUESTS),
      () => {
        if (line.active === 0) clients.delete(address);
      },
    );
  };
}

/**
 * Load shedding for the whole server: at most `active` requests in progress from all clients
 * together, `waiting` more in line; beyond, 503 BUSY with Retry-After at once, before the body is
 * read. Many addresses flooding together then cannot queue unbounded work in the event loop, and
 * the probes (not counted) keep answering in milliseconds. The line is fair between the clients
 * `weighedAs` names (see FairLine): a signed-in request is weighed as its tenant, however many
 * addresses its users send from (a crowd signed in as a hundred tenants, each sending less than a
 * seller's page, took 98 % of a seller's turns when weighed by address: the eighth outside
 * attack), an anonymous one as its address; a crowd waits behind the others. Signed-in tenants
 * are served first but for one turn in four, and take anonymous requests' places first when the
 * line is full: addresses are cheap, accounts are not. A turn ends when the answer is
 * handed to Node, so clients that do not read their answers hold no turn. Requests with a
 * bounded line of their own (`hasOwnLine`: the routes that hash a password) skip this one.
 */
export function serverConcurrency(
  limits: Concurrency,
  hasOwnLine: (path: string) => boolean,
  weighedAs: (req: IncomingMessage) => string,
): RequestStep {
  const line = new FairLine(limits, new RecentCounts(), isTenantClient);
  return (req, res, next) => {
    if (hasOwnLine(req.context.path)) return next();
    let giveBack = () => {};
    const enter = (begin: () => void, refuse: () => void) => {
      giveBack = inTurn(line, "end", weighedAs(req), req, res, begin, refuse);
    };
    // A GraphQL request that waits elsewhere gives its turn back (bcrypt's line, see
    // auth/hashing-operations.ts; the line of new documents) and, for the latter, takes one again
    // to execute like every other request. Giving back happens once.
    req.context.serverTurn = {
      leave: () => giveBack(),
      retake: () =>
        new Promise<void>((begin, refuse) => {
          giveBack(); // given back already, unless the request never left
          enter(begin, () => refuse(new ServerLineFullError("The server's line is full")));
        }),
    };
    enter(
      () => next(),
      () => sendError(req, res, BUSY),
    );
  };
}

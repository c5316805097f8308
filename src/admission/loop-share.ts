import type { IncomingMessage, ServerResponse } from "node:http";
import { clientOfTenant } from "./client-address.ts";

/**
 * The requests an iteration of the event loop starts, shared between clients. libuv accepts one
 * new connection per listening socket per iteration (libuv/libuv#3696), and a newcomer's request
 * then needs several iterations (its headers, each database round trip). A crowd whose requests
 * make every iteration long (300 addresses keeping 16 `/health` pipelined: about 90 ms each;
 * 1,000 addresses pipelining 404s, or a few hundred reconnecting beside them) thus kept a
 * tenant's new connection waiting 5–10 s, as the sixth outside attack on issue 24 measured.
 *
 * So an iteration starts at most `perIteration` requests: beyond, a request waits for a later
 * iteration (setImmediate: after the next poll of sockets, where connections are accepted and
 * database answers read), and waiting requests are started one client at a time in turn (a
 * client: an address, or an IPv6 /64), so a client with one request waits one rotation, not behind
 * a crowd's thousands. An idle or moderately loaded server starts every request at once.
 *
 * A waiting request whose bearer token verifies (its signature and claims: no database) waits in
 * a rotation of its own, one turn per tenant, served before the anonymous one but for every
 * `ANONYMOUS_EVERY`th start: a crowd of many addresses without accounts (the seventh outside
 * attack: 3,000–5,000 addresses each pipelining a few requests) no longer makes a tenant's
 * request wait one turn per address, and a crowd signed in as one tenant takes that tenant's turn.
 *
 * Checked first: p-queue and bottleneck bound concurrency or requests per time interval, not per
 * iteration of the event loop, and neither rotates between clients; our fair lines
 * (fair-line.ts) bound requests in progress, which costs nothing to a crowd of synchronous
 * answers (a 404 holds its turn for microseconds).
 */
/** While signed-in requests wait, one start in this many goes to an anonymous client (sign-ins, registrations, probes). */
const ANONYMOUS_EVERY = 4;

export class LoopShare {
  /** Requests waiting, by rotation key, in the order keys get their next start: signed-in tenants', and anonymous clients'. */
  private readonly signedIn = new Map<string, Array<() => void>>();
  private readonly anonymous = new Map<string, Array<() => void>>();
  private startedThisIteration = 0;
  /** Starts given from the rotations since the server was last idle: every `ANONYMOUS_EVERY`th goes to an anonymous client. */
  private turns = 0;
  private scheduled = false;
  private readonly perIteration: number;
  /** Requests that waited for a later iteration, since start (for /metrics). */
  deferred = 0;

  constructor(perIteration: number) {
    this.perIteration = perIteration;
  }

  /**
   * Runs `start` now, or in a later iteration when this one started its share or others are
   * waiting. `tenantOf` (asked only when the request must wait): the tenant its bearer token
   * speaks for, signature verified; such a request waits in the signed-in rotation, per tenant.
   */
  run(client: string, start: () => void, tenantOf: () => number | undefined = () => undefined): void {
    if (this.signedIn.size + this.anonymous.size === 0 && this.startedThisIteration < this.perIteration) {
      this.startedThisIteration += 1;
      this.schedule();
      return start();
    }
    this.deferred += 1;
    const tenant = tenantOf();
    const [rotation, key] = tenant === undefined ? [this.anonymous, client] : [this.signedIn, clientOfTenant(tenant)];
    const queue = rotation.get(key);
    if (queue) queue.push(start);
    else rotation.set(key, [start]);
    this.schedule();
  }

  /** Once per iteration, after its poll: a new share, given to the waiting keys in turn. */
  private readonly nextIteration = () => {
    this.scheduled = false;
    this.startedThisIteration = 0;
    while (this.startedThisIteration < this.perIteration) {
      const rotation = this.nextRotation();
      if (!rotation) break;
      const [key, queue] = rotation.entries().next().value!;
      rotation.delete(key);
      const start = queue.shift()!;
      if (queue.length > 0) rotation.set(key, queue); // to the end of the rotation
      this.startedThisIteration += 1;
      start();
    }
    if (this.startedThisIteration > 0) this.schedule();
    else this.turns = 0;
  };

  /** Signed-in tenants first, but every `ANONYMOUS_EVERY`th start is an anonymous client's when one waits (sign-ins, registrations). */
  private nextRotation(): Map<string, Array<() => void>> | undefined {
    this.turns += 1;
    const anonymousTurn = this.turns % ANONYMOUS_EVERY === 0 || this.signedIn.size === 0;
    if (anonymousTurn && this.anonymous.size > 0) return this.anonymous;
    return this.signedIn.size > 0 ? this.signedIn : undefined;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // An immediate queued by an immediate runs in the next iteration, after its poll phase.
    setImmediate(this.nextIteration);
  }
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * `listener`, its requests started within `share`, weighed by the client of their context
 * (request-context.ts) or, signed in, by `tenantOf` the request; a request whose socket closed
 * while it waited is dropped.
 */
export function sharingLoop(share: LoopShare, tenantOf: (req: IncomingMessage) => number | undefined, listener: Listener): Listener {
  return (req, res) =>
    share.run(
      req.context.client,
      () => {
        if (!req.socket.destroyed) listener(req, res);
      },
      () => tenantOf(req),
    );
}

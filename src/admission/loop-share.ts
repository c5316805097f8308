import type { IncomingMessage, ServerResponse } from "node:http";

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
 * Checked first: p-queue and bottleneck bound concurrency or requests per time interval, not per
 * iteration of the event loop, and neither rotates between clients; our fair lines
 * (fair-line.ts) bound requests in progress, which costs nothing to a crowd of synchronous
 * answers (a 404 holds its turn for microseconds).
 */
export class LoopShare {
  /** Requests waiting, by client, in the order clients get their next start. */
  private readonly waiting = new Map<string, Array<() => void>>();
  private startedThisIteration = 0;
  private scheduled = false;
  private readonly perIteration: number;
  /** Requests that waited for a later iteration, since start (for /metrics). */
  deferred = 0;

  constructor(perIteration: number) {
    this.perIteration = perIteration;
  }

  /** Runs `start` now, or in a later iteration when this one started its share or other clients are waiting. */
  run(client: string, start: () => void): void {
    if (this.waiting.size === 0 && this.startedThisIteration < this.perIteration) {
      this.startedThisIteration += 1;
      this.schedule();
      return start();
    }
    this.deferred += 1;
    const queue = this.waiting.get(client);
    if (queue) queue.push(start);
    else this.waiting.set(client, [start]);
    this.schedule();
  }

  /** Once per iteration, after its poll: a new share, given to the waiting clients in turn. */
  private readonly nextIteration = () => {
    this.scheduled = false;
    this.startedThisIteration = 0;
    while (this.startedThisIteration < this.perIteration && this.waiting.size > 0) {
      const [client, queue] = this.waiting.entries().next().value!;
      this.waiting.delete(client);
      const start = queue.shift()!;
      if (queue.length > 0) this.waiting.set(client, queue); // to the end of the rotation
      this.startedThisIteration += 1;
      start();
    }
    if (this.startedThisIteration > 0) this.schedule();
  };

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // An immediate queued by an immediate runs in the next iteration, after its poll phase.
    setImmediate(this.nextIteration);
  }
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** `listener`, its requests started within `share`, weighed by the client of their context (request-context.ts); a request whose socket closed while it waited is dropped. */
export function sharingLoop(share: LoopShare, listener: Listener): Listener {
  return (req, res) =>
    share.run(req.context.client, () => {
      if (!req.socket.destroyed) listener(req, res);
    });
}

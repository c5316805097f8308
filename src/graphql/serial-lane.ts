/** Thrown when more work waits for a lane than it accepts. */
export class LaneFullError extends Error {}

/**
 * One lane for long synchronous work (planning a document the server has not seen, computing an
 * introspection answer): one task at a time, with a turn of the event loop between tasks so that
 * other requests (health checks, cached queries) are served in between. At most `maxWaiting`
 * tasks wait; beyond, `run` refuses at once (LaneFullError) instead of queueing without bound.
 */
export class SerialLane {
  private readonly maxWaiting: number;
  private busy = false;
  private readonly waiting: Array<() => void> = [];

  constructor(maxWaiting: number) {
    this.maxWaiting = maxWaiting;
  }

  /** Runs the synchronous part of `work` in turn; what it returns (a promise, often) is not awaited. */
  async run<T>(work: () => T): Promise<T> {
    if (this.busy) {
      if (this.waiting.length >= this.maxWaiting) throw new LaneFullError("Too much new work is waiting");
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.busy = true;
    try {
      return work();
    } finally {
      setImmediate(() => this.handOver());
    }
  }

  /** After I/O had its turn: the next waiting task, or the lane is free. */
  private handOver(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.busy = false;
  }
}

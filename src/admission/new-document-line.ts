import type { NewDocumentBudget } from "../config/graphql.ts";
import { RecentCounts } from "./fair-line.ts";

/** Thrown when a new document would wait longer than the line allows. */
export class NewDocumentLineFullError extends Error {}

export type { NewDocumentBudget };

interface Waiter {
  client: string;
  /** Estimated milliseconds of its work (refined as work is measured). */
  estimateMs: number;
  /** Work already admitted (a planning step after its document was parsed): never refused, goes first. */
  admitted: boolean;
  begin: () => void;
  refuse: () => void;
}

/**
 * What a kilobyte of a new document costs to parse, check and validate at first (measured on a
 * busy 2-core machine: ≈ 3 ms for 95 kB), then as measured; and what its planning adds, whatever
 * its size (≈ 8 ms for the same document, whose plan is that of a 100-byte one).
 */
const INITIAL_MS_PER_KB = 0.04;
const PLAN_ESTIMATE_MS = 8;
/** Weight of the latest measure in the running cost per kilobyte, and the bounds it is kept within. */
const SMOOTHING = 0.2;
const MS_PER_KB_BOUNDS = [0.005, 2] as const;

/**
 * Long synchronous work on documents the server has not seen yet (parsing, limits, validation,
 * planning, introspection answers) runs here, one task at a time with a turn of the event loop
 * between, within a budget of event-loop time per second (`msPerSecond`): each task's time is
 * measured and paid for; while the budget is spent, the next task waits for it to refill. So
 * whatever a crowd sends, known documents, probes and everything else keep the rest of each
 * second.
 *
 * A new document is refused at once (NewDocumentLineFullError: 503 BUSY, before it is parsed) when the work
 * waiting before it would take longer than `maxWaitMs` at that pace. The work is estimated from
 * the bytes of each document (a 95 kB document weighs more than a 1 kB one), at the cost per
 * kilobyte measured lately, plus a plan. Turns go fairly between clients: the next to the client that sent
 * the fewest bytes of new documents in the last 10–20 s, and when the line is full a lighter
 * client's document takes the place of the heaviest client's, which is refused.
 *
 * FairLine (fair-line.ts) orders by a count of requests and bounds a number of waiters; here
 * the bound is time, the weight is bytes and the turns are paced, so this line keeps its own
 * waiters (sharing FairLine's RecentCounts). p-queue and bottleneck pace by count of tasks, not
 * by the time each took.
 */
export class NewDocumentLine {
  private readonly budget: NewDocumentBudget;
  private readonly weights = new RecentCounts();
  private readonly waiters: Waiter[] = [];
  private waitingMs = 0;
  private busy = false;
  /** Budget left (ms); negative while a long task is paid back. */
  private tokens: number;
  private refilledAt = performance.now();
  private msPerKb = INITIAL_MS_PER_KB;
  private timer: NodeJS.Timeout | undefined;
  /** For /metrics: tasks run, documents refused, and the event-loop time spent on them. */
  readonly counts = { run: 0, refused: 0, spentMs: 0 };

  constructor(budget: NewDocumentBudget) {
    this.budget = budget;
    this.tokens = budget.msPerSecond;
  }

  /**
   * Runs the synchronous part of `work` on a new document of `bytes` in `client`'s turn (what it
   * returns, often a promise, is not awaited); rejects with NewDocumentLineFullError when it would wait too long.
   */
  run<T>(client: string, bytes: number, work: () => T): Promise<T> {
    this.weights.add(client, bytes);
    return this.inTurn(client, PLAN_ESTIMATE_MS + (bytes / 1000) * this.msPerKb, false, work, bytes);
  }

  /** The same for the planning of a document this line admitted already: first in line, never refused. */
  runAdmitted<T>(client: string, work: () => T): Promise<T> {
    return this.inTurn(client, PLAN_ESTIMATE_MS, true, work);
  }

  private async inTurn<T>(client: string, estimateMs: number, admitted: boolean, work: () => T, bytes?: number): Promise<T> {
    await new Promise<void>((begin, refuse) =>
      this.take({
        client,
        estimateMs,
        admitted,
        begin,
        refuse: () => refuse(new NewDocumentLineFullError("Too much new work is waiting")),
      }),
    );
    const started = performance.now();
    try {
      return work();
    } finally {
      this.paid(performance.now() - started, bytes);
      setImmediate(() => this.next());
    }
  }

  private take(waiter: Waiter): void {
    if (!this.busy && this.waiters.length === 0 && this.refill() > 0) {
      this.busy = true;
      return waiter.begin();
    }
    if (!waiter.admitted && !this.hasRoomFor(waiter) && !this.evictHeavierThan(waiter)) {
      this.counts.refused += 1;
      return waiter.refuse();
    }
    this.waiters.push(waiter);
    this.waitingMs += waiter.estimateMs;
    if (!this.busy) this.next();
  }

  /** Whether the work waiting, this one's included, is done within `maxWaitMs` at the budget's pace. */
  private hasRoomFor(waiter: Waiter): boolean {
    const debt = Math.max(0, -this.refill());
    return ((this.waitingMs + waiter.estimateMs + debt) * 1000) / this.budget.msPerSecond <= this.budget.maxWaitMs;
  }

  /** Refuses the waiter of the heaviest client, when that client weighs more than the newcomer's: true if one was. */
  private evictHeavierThan(newcomer: Waiter): boolean {
    const index = this.pick((a, b) => a > b, this.weights.of(newcomer.client));
    if (index < 0) return false;
    const [evicted] = this.waiters.splice(index, 1);
    this.waitingMs -= evicted.estimateMs;
    this.counts.refused += 1;
    evicted.refuse();
    return this.hasRoomFor(newcomer) || this.evictHeavierThan(newcomer);
  }

  /** The index of the waiter whose client's weight `beats` every other's (and `bar`, when given); admitted work is never picked to be refused. */
  private pick(beats: (a: number, b: number) => boolean, bar?: number): number {
    let best = -1;
    let bestWeight = bar;
    this.waiters.forEach((waiter, index) => {
      if (bar !== undefined && waiter.admitted) return;
      const weight = waiter.admitted ? -1 : this.weights.of(waiter.client);
      if (bestWeight === undefined || beats(weight, bestWeight)) [best, bestWeight] = [index, weight];
    });
    return best;
  }

  /** The next turn, once the budget allows: to admitted work first, then to the lightest client. */
  private next(): void {
    this.busy = false;
    if (this.waiters.length === 0 || this.timer) return;
    const tokens = this.refill();
    if (tokens <= 0) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.next();
        },
        Math.ceil((-tokens * 1000) / this.budget.msPerSecond) + 1,
      );
      return;
    }
    const [waiter] = this.waiters.splice(
      this.pick((a, b) => a < b),
      1,
    );
    this.waitingMs -= waiter.estimateMs;
    this.busy = true;
    waiter.begin();
  }

  /** The budget now, refilled for the time since the last look (at most one second's worth). */
  private refill(): number {
    const now = performance.now();
    this.tokens = Math.min(this.budget.msPerSecond, this.tokens + ((now - this.refilledAt) * this.budget.msPerSecond) / 1000);
    this.refilledAt = now;
    return this.tokens;
  }

  /** `ms` spent: taken from the budget; `bytes` of a new document refine the cost per kilobyte. */
  private paid(ms: number, bytes: number | undefined): void {
    this.tokens -= ms;
    this.counts.run += 1;
    this.counts.spentMs += ms;
    if (bytes === undefined || bytes < 1_000) return;
    const measured = Math.min(MS_PER_KB_BOUNDS[1], Math.max(MS_PER_KB_BOUNDS[0], ms / (bytes / 1000)));
    this.msPerKb += SMOOTHING * (measured - this.msPerKb);
  }
}

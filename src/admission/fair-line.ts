/** How many requests at once, and how many may wait their turn. */
export interface LineLimits {
  active: number;
  waiting: number;
}

/** How long a request counts towards its client's weight: between one and two of these. */
const WEIGHT_WINDOW_MS = 10_000;
/** Clients remembered in one window; beyond, the window rotates early (memory stays bounded). */
const MAX_CLIENTS_PER_WINDOW = 100_000;

/**
 * Requests per client over the last 10 to 20 seconds, in two buckets that rotate: the
 * weight that tells a crowd's clients (hundreds of requests) from the others (a few).
 */
export class RecentCounts {
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private rotatesAt = Date.now() + WEIGHT_WINDOW_MS;

  /** Counts `amount` (a request, or the bytes of one) for `client`. */
  add(client: string, amount = 1): void {
    this.rotate();
    this.current.set(client, (this.current.get(client) ?? 0) + amount);
  }

  of(client: string): number {
    return (this.current.get(client) ?? 0) + (this.previous.get(client) ?? 0);
  }

  private rotate(): void {
    const now = Date.now();
    if (now < this.rotatesAt && this.current.size < MAX_CLIENTS_PER_WINDOW) return;
    this.previous = now - this.rotatesAt > WEIGHT_WINDOW_MS ? new Map<string, number>() : this.current;
    this.current = new Map();
    this.rotatesAt = now + WEIGHT_WINDOW_MS;
  }
}

interface Waiter {
  client: string;
  begin: () => void;
  refuse: () => void;
}

/** While favoured clients wait, one turn in this many goes to the others (when any waits). */
const OTHERS_EVERY = 4;

/**
 * At most `active` requests at once and `waiting` more in line, served fairly between clients:
 * the next turn goes to the waiter whose client sent the fewest requests lately (first come
 * first served between equals), and when the line is full a newcomer from a lighter client takes
 * the place of the heaviest client's waiter, which is refused. A crowd then shares the line with
 * itself: a client sending its first request in a while waits behind at most the requests running.
 *
 * Kept, hand-built, because no library checked evicts the heaviest client's waiter: p-queue orders
 * by a priority fixed on arrival and, full, can only refuse the newcomer; piscina's `maxQueue`
 * refuses the newcomer too; bottleneck's OVERFLOW_PRIORITY drops a waiter of lower priority, but
 * among 10 priorities fixed on arrival, while a client's weight keeps growing as it keeps sending.
 * The property it buys is measured by test/attacks/floods.test.ts ("lets a sign-in from a quiet
 * address through a crowd of wrong sign-ins that retries at once on BUSY") and crowds.test.ts.
 */
export class FairLine {
  active = 0;
  private readonly waiters: Waiter[] = [];
  private readonly limits: LineLimits;
  private readonly counts: RecentCounts;
  private readonly favoured: (client: string) => boolean;
  /** Turns given to waiters: every `OTHERS_EVERY`th goes to a client not favoured. */
  private turns = 0;

  /**
   * `counts` may be shared with another line that weighs the same clients. `favoured`: a class of
   * clients (signed-in tenants) served before the others but for one turn in `OTHERS_EVERY`, and
   * whose newcomers, when the line is full, take the place of the heaviest of the others first:
   * addresses are cheap, so a crowd of thousands each sending a request a second weighs less,
   * address by address, than a seller's page; weighed in one class, it took 97 % of a tenant's
   * turns (the ninth outside attack on issue 24).
   */
  constructor(limits: LineLimits, counts = new RecentCounts(), favoured: (client: string) => boolean = () => false) {
    this.limits = limits;
    this.counts = counts;
    this.favoured = favoured;
  }

  /** Counts one request of `client` towards its weight. */
  weigh(client: string): void {
    this.counts.add(client);
  }

  /** `begin` now or when a turn is free, or `refuse` now or later (a lighter client took the place). */
  take(client: string, begin: () => void, refuse: () => void): void {
    if (this.active < this.limits.active) {
      this.active += 1;
      begin();
    } else if (this.waiters.length < this.limits.waiting || this.evictHeavierThan(client)) {
      this.waiters.push({ client, begin, refuse });
    } else {
      refuse();
    }
  }

  /** Runs `work` in a turn of `client`; rejects with `refusal()` if the line refuses it. */
  async run<T>(client: string, work: () => Promise<T>, refusal: () => Error): Promise<T> {
    await new Promise<void>((begin, refuse) => this.take(client, begin, () => refuse(refusal())));
    try {
      return await work();
    } finally {
      this.give();
    }
  }

  /** The turn passes to the lightest waiter (of the favoured, but for every `OTHERS_EVERY`th turn), or is given back. */
  give(): void {
    this.turns += 1;
    const othersTurn = this.turns % OTHERS_EVERY === 0;
    const next = this.extract(
      (a, b) => a < b,
      undefined,
      undefined,
      (w) => this.favoured(w.client) !== othersTurn,
    );
    if (next) next.begin();
    else this.active -= 1;
  }

  /**
   * Refuses the heaviest waiter that `client` may take the place of: a waiter not favoured, for a
   * favoured newcomer; else one of its class, heavier than it. True if one was refused.
   */
  private evictHeavierThan(client: string): boolean {
    const favoured = this.favoured(client);
    const heaviest =
      (favoured
        ? this.extract(
            (a, b) => a > b,
            undefined,
            (w) => !this.favoured(w.client),
          )
        : undefined) ??
      this.extract(
        (a, b) => a > b,
        this.counts.of(client),
        (w) => this.favoured(w.client) === favoured,
      );
    heaviest?.refuse();
    return heaviest !== undefined;
  }

  /**
   * Removes, in one pass, the first waiter `among` picks whose weight beats all others' (and
   * `bar`, when given) by `beats`: of those `preferred` picks when there is one, else of all.
   */
  private extract(
    beats: (a: number, b: number) => boolean,
    bar?: number,
    among: (waiter: Waiter) => boolean = () => true,
    preferred: (waiter: Waiter) => boolean = () => false,
  ): Waiter | undefined {
    let best = -1;
    let bestWeight = 0;
    let bestPreferred = false;
    this.waiters.forEach((waiter, index) => {
      if (!among(waiter)) return;
      const weight = this.counts.of(waiter.client);
      if (bar !== undefined && !beats(weight, bar)) return;
      const isPreferred = preferred(waiter);
      const better = best < 0 || (isPreferred && !bestPreferred) || (isPreferred === bestPreferred && beats(weight, bestWeight));
      if (better) [best, bestWeight, bestPreferred] = [index, weight, isPreferred];
    });
    return best < 0 ? undefined : this.waiters.splice(best, 1)[0];
  }
}

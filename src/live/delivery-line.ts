/**
 * Deliveries in progress at once, process-wide, and the next turn to each tenant in rotation: a
 * tenant whose write fans out to thousands of subscriptions gets one turn per round, as every
 * other tenant with an event waiting does, and the event loop keeps room for HTTP requests.
 *
 * Hand-built: the server's FairLine (src/admission/fair-line.ts) weighs every waiter at each
 * turn, which is linear in the waiters; here a waiter is one subscription (ten thousand of them
 * in the benchmark), so turns rotate between tenants in constant time. p-queue has no rotation
 * between keys.
 */
export class DeliveryLine {
  #active = 0;
  readonly #max: number;
  readonly #waiting = new Map<string, (() => void)[]>();
  /** Tenants with a waiter, in the order their next turn comes. */
  readonly #rotation: string[] = [];

  constructor(max: number) {
    this.#max = max;
  }

  /** Resolves when `tenant` may deliver; the turn is given back with `give`. */
  take(tenant: string): Promise<void> {
    if (this.#active < this.#max) {
      this.#active += 1;
      return Promise.resolve();
    }
    return new Promise((begin) => {
      const queue = this.#waiting.get(tenant);
      if (queue) return void queue.push(begin);
      this.#waiting.set(tenant, [begin]);
      this.#rotation.push(tenant);
    });
  }

  /** The turn passes to the next tenant in rotation, or is given back. */
  give(): void {
    const tenant = this.#rotation.shift();
    if (tenant === undefined) {
      this.#active -= 1;
      return;
    }
    const queue = this.#waiting.get(tenant)!;
    const begin = queue.shift()!;
    if (queue.length > 0) this.#rotation.push(tenant);
    else this.#waiting.delete(tenant);
    begin();
  }
}

import type { GrafastSubscriber } from "postgraphile/grafast";
import { DeliveryLine } from "./delivery-line.ts";

/** What sellers can wait for: the `k` of a stoflow_live notification. */
export const LIVE_KINDS = ["product", "vinted_product", "publication", "ai_generation"] as const;
export type LiveKind = (typeof LIVE_KINDS)[number];

/** What happened to a row (RESYNC: events may have been lost; refetch). */
export type LiveEventKind = "CREATED" | "UPDATED" | "DELETED" | "RESYNC";

/** One event as a subscription delivers it: the row's key (never its data) and its number on that subscription. */
export interface LiveEvent {
  event: LiveEventKind;
  /** The row's key (sku or id), as text; null for RESYNC. */
  key: string | null;
  /** 1, 2, 3… on each subscription: a client that sees a gap, or a RESYNC, refetches. */
  sequence: number;
}

type Change = Omit<LiveEvent, "sequence">;

const OPERATIONS: Record<string, LiveEventKind> = { INSERT: "CREATED", UPDATE: "UPDATED", DELETE: "DELETED" };

/** The topic of a tenant's events of one kind: built from a verified session's tenant only (live-plugin.ts). */
export const topicOf = (tenantId: number, kind: LiveKind): string => `${tenantId}:${kind}`;

export interface HubLimits {
  /** Events of a topic within this window are merged, the latest per row (0: delivered at once). */
  mergeMs: number;
  /** Events waiting for one subscription; beyond, they become one RESYNC. */
  queuedEvents: number;
  /** Deliveries in progress at once, process-wide, turns rotating between tenants (delivery-line.ts). */
  deliveries: number;
}

/**
 * The process's subscriptions by topic, fed by the LISTEN connection (notifications.ts).
 * A notification for a topic nobody here subscribes to costs a JSON parse and a map lookup.
 * Bursts are merged per topic over `mergeMs`; a subscription whose consumer falls behind by
 * `queuedEvents` has its queue replaced by one RESYNC, so memory stays bounded whatever the pace.
 */
export class LiveHub implements GrafastSubscriber<Record<string, LiveEvent>> {
  readonly #topics = new Map<string, Set<Subscription>>();
  readonly #pending = new Map<string, Map<string, Change>>();
  readonly counts = { notifications: 0, delivered: 0, resyncs: 0, overflows: 0, malformed: 0 };

  readonly #limits: HubLimits;
  readonly #line: DeliveryLine;

  constructor(limits: HubLimits) {
    this.#limits = limits;
    this.#line = new DeliveryLine(limits.deliveries);
  }

  get subscriptions(): number {
    let total = 0;
    for (const set of this.#topics.values()) total += set.size;
    return total;
  }

  subscribe(name: string | number): AsyncIterableIterator<LiveEvent> {
    const topic = String(name);
    const subscription = new Subscription(
      this.#limits.queuedEvents,
      { line: this.#line, tenant: topic.slice(0, topic.indexOf(":")) },
      () => this.#drop(topic, subscription),
      () => (this.counts.overflows += 1),
    );
    const set = this.#topics.get(topic) ?? new Set();
    set.add(subscription);
    this.#topics.set(topic, set);
    return subscription;
  }

  /** A stoflow_live notification: `{t, k, op, id}` (app_private.tg__notify_live). */
  notified(payload: string): void {
    this.counts.notifications += 1;
    const change = parseNotification(payload);
    if (!change) {
      this.counts.malformed += 1;
      return;
    }
    if (!this.#topics.has(change.topic)) return;
    if (this.#limits.mergeMs === 0) return this.#deliver(change.topic, [change.change]);
    const pending = this.#pending.get(change.topic);
    if (pending) return void pending.set(change.change.key!, merged(pending.get(change.change.key!), change.change));
    this.#pending.set(change.topic, new Map([[change.change.key!, change.change]]));
    setTimeout(() => this.#flush(change.topic), this.#limits.mergeMs).unref();
  }

  /** The LISTEN connection came back: whatever was notified meanwhile is lost, so every subscription refetches. */
  resync(): void {
    this.#pending.clear();
    for (const set of this.#topics.values()) for (const subscription of set) subscription.push({ event: "RESYNC", key: null });
    this.counts.resyncs += 1;
  }

  /** Ends every subscription (the process stops). */
  release(): void {
    for (const set of this.#topics.values()) for (const subscription of set) void subscription.return();
  }

  #flush(topic: string): void {
    const pending = this.#pending.get(topic);
    this.#pending.delete(topic);
    if (pending) this.#deliver(topic, [...pending.values()]);
  }

  #deliver(topic: string, changes: Change[]): void {
    for (const subscription of this.#topics.get(topic) ?? []) {
      for (const change of changes) subscription.push(change);
      this.counts.delivered += changes.length;
    }
  }

  #drop(topic: string, subscription: Subscription): void {
    const set = this.#topics.get(topic);
    set?.delete(subscription);
    if (set?.size === 0) this.#topics.delete(topic);
  }
}

/** Two changes of one row within the merge window as one: the latest, except that a row created then updated is still new. */
function merged(earlier: Change | undefined, later: Change): Change {
  return earlier?.event === "CREATED" && later.event === "UPDATED" ? earlier : later;
}

/** The topic and change a notification names, or undefined for anything malformed. */
export function parseNotification(payload: string): { topic: string; change: Change } | undefined {
  let notice: { t?: unknown; k?: unknown; op?: unknown; id?: unknown };
  try {
    notice = JSON.parse(payload) as typeof notice;
  } catch {
    return undefined;
  }
  const { t, k, op, id } = notice ?? {};
  if (!Number.isInteger(t) || (t as number) <= 0 || !LIVE_KINDS.includes(k as LiveKind)) return undefined;
  const event = OPERATIONS[op as string];
  if (!event || (typeof id !== "string" && typeof id !== "number")) return undefined;
  return { topic: topicOf(t as number, k as LiveKind), change: { event, key: String(id) } };
}

/**
 * One subscription's events, as the async iterator grafast's `listen` reads, with a bounded queue.
 * An event is handed out in a turn of the delivery line, held while grafast reads its row and
 * graphql-ws sends it, and given back when the next one is asked for.
 */
class Subscription implements AsyncIterableIterator<LiveEvent> {
  #queue: LiveEvent[] = [];
  #waiting: ((result: IteratorResult<LiveEvent>) => void) | undefined;
  #sequence = 0;
  #done = false;
  #holding = false;
  readonly #maxQueued: number;
  readonly #turns: { line: DeliveryLine; tenant: string };
  readonly #onEnd: () => void;
  readonly #onOverflow: () => void;

  constructor(maxQueued: number, turns: { line: DeliveryLine; tenant: string }, onEnd: () => void, onOverflow: () => void) {
    this.#maxQueued = maxQueued;
    this.#turns = turns;
    this.#onEnd = onEnd;
    this.#onOverflow = onOverflow;
  }

  push(change: Change): void {
    if (this.#done) return;
    const event = { ...change, sequence: ++this.#sequence };
    if (this.#waiting) {
      const resolve = this.#waiting;
      this.#waiting = undefined;
      return resolve({ done: false, value: event });
    }
    // A consumer this far behind gets one RESYNC instead of the backlog.
    if (this.#queue.length < this.#maxQueued) return void this.#queue.push(event);
    this.#queue = [{ event: "RESYNC", key: null, sequence: event.sequence }];
    this.#onOverflow();
  }

  async next(): Promise<IteratorResult<LiveEvent>> {
    this.#giveTurn();
    const result = await this.#nextEvent();
    if (result.done) return result;
    await this.#turns.line.take(this.#turns.tenant);
    this.#holding = true;
    if (!this.#done) return result;
    this.#giveTurn();
    return { done: true, value: undefined };
  }

  #nextEvent(): Promise<IteratorResult<LiveEvent>> {
    const first = this.#queue.shift();
    if (first) return Promise.resolve({ done: false, value: first });
    if (this.#done) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  #giveTurn(): void {
    if (!this.#holding) return;
    this.#holding = false;
    this.#turns.line.give();
  }

  return(): Promise<IteratorResult<LiveEvent>> {
    if (!this.#done) {
      this.#done = true;
      this.#queue = [];
      this.#onEnd();
      this.#giveTurn();
      this.#waiting?.({ done: true, value: undefined });
      this.#waiting = undefined;
    }
    return Promise.resolve({ done: true, value: undefined });
  }

  throw(): Promise<IteratorResult<LiveEvent>> {
    return this.return();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<LiveEvent> {
    return this;
  }
}

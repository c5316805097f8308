import v8 from "node:v8";
import { runInNewContext } from "node:vm";

/** A flood: at least this many sockets or bodies refused, evicted or cut off since the last collection. */
const FLOOD_EVENTS = 100;
/** Nothing refused for this long: the flood is over. */
const QUIET_MS = 5_000;
/** At most one collection this often, whatever comes. */
const MIN_INTERVAL_MS = 30_000;
const CHECK_MS = 1_000;

type Collect = (options: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;

/**
 * V8's full collection, as the `expose-gc` package gets it: the flag set, then `gc` read from a
 * new context (the flag applies to contexts made after it).
 */
function exposedCollector(): Collect {
  v8.setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as Collect;
}

/**
 * Gives the memory of a flood back once it is over. The sockets, parsers and bodies of a crowd
 * (tens of thousands of them) are garbage as soon as they close, but V8 keeps the heap it grew
 * and frees it only when its memory reducer runs, a minute or more later on an idle server
 * (measured: RSS +100 MB for 60–70 s). After a flood (`refusals()`, the count of sockets and
 * bodies refused, evicted or cut off, grew by FLOOD_EVENTS), QUIET_MS without refusals, and once
 * `calm()` (few sockets open: a slow crowd is refused only after its grace), one compacting
 * collection (V8's last-resort flavour, what a low-memory notification runs) returns it: a pause
 * of tens of milliseconds on a calm server, never during a flood. Returns how to stop.
 */
export function collectAfterFloods(refusals: () => number, calm: () => boolean, collect: Collect = exposedCollector()): () => void {
  let seen = refusals();
  let collectedAt = seen;
  let changedAt = Date.now();
  let lastCollection = 0;
  const check = () => {
    const now = Date.now();
    const count = refusals();
    if (count !== seen) [seen, changedAt] = [count, now];
    if (count - collectedAt < FLOOD_EVENTS || now - changedAt < QUIET_MS || now - lastCollection < MIN_INTERVAL_MS || !calm()) return;
    collect({ type: "major", execution: "sync", flavor: "last-resort" });
    [collectedAt, lastCollection] = [count, now];
  };
  const timer = setInterval(check, CHECK_MS).unref();
  return () => clearInterval(timer);
}

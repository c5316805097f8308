import { createRequire } from "node:module";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";

/** A flood: at least this many sockets or bodies refused, evicted or cut off since the last collection. */
const FLOOD_EVENTS = 100;
/** Nothing refused for this long: the flood is over. */
const QUIET_MS = 5_000;
/** At most one collection this often, whatever comes. */
const MIN_INTERVAL_MS = 30_000;
const CHECK_MS = 1_000;

type Collect = () => void;
type V8Collect = (options: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;

/**
 * V8's full collection, as the `expose-gc` package gets it: the flag set, then `gc` read from a
 * new context (the flag applies to contexts made after it).
 */
function exposedCollector(): V8Collect {
  v8.setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as V8Collect;
}

/**
 * glibc's `malloc_trim(0)`, called through koffi (a C FFI with prebuilt binaries): gives the C
 * heap's free pages back to the system. A flood's socket reads and bodies are malloc'ed; once
 * freed, the small blocks still in use between them keep the heap from shrinking (measured: the
 * `[heap]` mapping 15 → 89 MB after 300 addresses sending 95 kB documents, RSS +35 MB for good
 * after V8's collection). Tried instead: `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536`
 * (every read buffer its own mapping) gave the memory back but slowed a tenant's requests during
 * the flood from p50 25 ms to 270–570 ms. Nothing where the C library has no `malloc_trim`
 * (musl, macOS) or koffi has no binary.
 */
function nativeTrimmer(): () => void {
  try {
    const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
    const trim = koffi.load("libc.so.6").func("int malloc_trim(size_t)");
    return () => void trim(0);
  } catch {
    return () => {};
  }
}

/** V8's full collection, then the C heap's free pages given back. */
function fullCollector(): Collect {
  const [collect, trim] = [exposedCollector(), nativeTrimmer()];
  return () => {
    collect({ type: "major", execution: "sync", flavor: "last-resort" });
    trim();
  };
}

/**
 * Gives the memory of a flood back once it is over. The sockets, parsers and bodies of a crowd
 * (tens of thousands of them) are garbage as soon as they close, but V8 keeps the heap it grew
 * and frees it only when its memory reducer runs, a minute or more later on an idle server
 * (measured: RSS +100 MB for 60–70 s). After a flood (`refusals()`, the count of sockets and
 * bodies refused, evicted or cut off, grew by FLOOD_EVENTS), QUIET_MS without refusals, and once
 * `calm()` (few sockets open: a slow crowd is refused only after its grace), one compacting
 * collection (V8's last-resort flavour, what a low-memory notification runs) and a trim of the C
 * heap return it: a pause of tens of milliseconds on a calm server, never during a flood. Returns
 * how to stop.
 */
export function collectAfterFloods(refusals: () => number, calm: () => boolean, collect: Collect = fullCollector()): () => void {
  let seen = refusals();
  let collectedAt = seen;
  let changedAt = Date.now();
  let lastCollection = 0;
  const check = () => {
    const now = Date.now();
    const count = refusals();
    if (count !== seen) [seen, changedAt] = [count, now];
    if (count - collectedAt < FLOOD_EVENTS || now - changedAt < QUIET_MS || now - lastCollection < MIN_INTERVAL_MS || !calm()) return;
    collect();
    [collectedAt, lastCollection] = [count, now];
  };
  const timer = setInterval(check, CHECK_MS).unref();
  return () => clearInterval(timer);
}

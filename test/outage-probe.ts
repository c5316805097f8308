import { Writable } from "node:stream";
import pg from "pg";
import { pino } from "pino";
import { removeOwnClusters, startOwnCluster } from "./helpers/embedded.ts";
import { takePostgresAway, WAYS, type Answer } from "./helpers/outage.ts";

/**
 * `node test/outage-probe.ts [fast|immediate|kill|terminate|network …]`: takes PostgreSQL away in
 * each way the fault tests do (all of them by default) and prints every error the driver, the
 * pool and the server met on the way, where it was thrown, and what each path answered. The
 * classification in src/db/unavailable.ts is built from this output: run it again after an
 * upgrade of pg, pg-pool or PostGraphile.
 */
const seen = new Map<string, number>();
let current = "";
const count = (key: string) => seen.set(key, (seen.get(key) ?? 0) + 1);

/** The first frame of our code or of the GraphQL stack that led to a call. */
function callerOf(stack: string): string {
  const frame = stack
    .split("\n")
    .slice(2)
    .find((line) => /\/(src|@dataplan|grafast|grafserv)\//.test(line) && !/src\/(db\/pool|graphql\/introspection)\.ts/.test(line));
  return (
    frame
      ?.trim()
      .replace(/^at /, "")
      .replace(/\(?(file:\/\/)?\/.*?\/(src|node_modules)\//, "$2/")
      .replace(/\)$/, "") ?? "pg-pool internals"
  );
}

function noteFailure(where: string, stack: string, error: Error & { code?: string }) {
  count(
    `${current} | ${where} | ${callerOf(stack)} | ${error.constructor.name} ${error.code ?? ""} | ${error.message.replace(/\d+\.\d+\.\d+\.\d+:\d+/, "<host>:<port>")}`,
  );
}

/** Wraps a promise-or-callback method so that its failures are noted with the caller's stack. */
function watch(target: Record<string, unknown>, method: string, where: string) {
  const original = target[method] as (...args: unknown[]) => unknown;
  target[method] = function (this: unknown, ...args: unknown[]) {
    const stack = new Error().stack!;
    const last = args.length - 1;
    if (typeof args[last] === "function") {
      const callback = args[last] as (error: unknown, ...rest: unknown[]) => void;
      args[last] = (error: unknown, ...rest: unknown[]) => {
        if (error) noteFailure(where, stack, error as Error);
        callback(error, ...rest);
      };
      return original.apply(this, args);
    }
    const result = original.apply(this, args);
    if (result instanceof Promise) result.catch((error: Error) => noteFailure(where, stack, error));
    return result;
  };
}
watch(pg.Client.prototype as never, "query", "client.query");
watch(pg.Pool.prototype as never, "connect", "pool.connect");
watch(pg.Pool.prototype as never, "query", "pool.query");

const logged = new Writable({
  write(chunk, _encoding, done) {
    const line = JSON.parse(String(chunk));
    if (line.err) count(`${current} | logged "${line.msg}" | ${line.err.type} ${line.err.code ?? ""} | ${line.err.message}`);
    done();
  },
});
const logger = pino({ level: "warn" }, logged);

const chosen = Object.keys(WAYS).filter((way) => process.argv.length <= 2 || process.argv.slice(2).some((word) => way.includes(word)));
const cluster = await startOwnCluster();
try {
  for (const way of chosen) {
    current = way;
    const outage = await takePostgresAway(cluster, way, logger);
    const answers = new Map<string, number>();
    for (const [phase, list] of Object.entries(outage) as [string, Answer[]][]) {
      for (const a of list) {
        const key = `${way} | answered ${phase} | ${a.path} | ${a.status} ${a.code ?? ""} Retry-After ${a.retryAfter ?? "-"}`;
        answers.set(key, (answers.get(key) ?? 0) + 1);
      }
    }
    for (const [key, n] of answers) count(`${key} ×${n}`);
    count(
      `${way} | answered: slowest in ${Math.max(
        ...Object.values(outage)
          .flat()
          .map((a) => a.ms),
      )} ms`,
    );
  }
} finally {
  await cluster.database.stop();
  await removeOwnClusters();
}
for (const [key, n] of seen) console.log(key.includes("answered") ? key : `${key} ×${n}`);

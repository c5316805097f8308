import cluster from "node:cluster";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import type { SocketCounts } from "../admission/socket-guard.ts";
import type { ServerConfig } from "../config/server.ts";
import type { RenderMetrics } from "./metrics.ts";
import { sharedWhileRunning } from "./shared-while-running.ts";

/**
 * The probe port (PROBE_PORT: /health, /ready, /metrics) on a worker thread of its own, with its
 * own event loop and database connection (probe-worker.ts): a crowd that keeps the API's event
 * loop busy (300 addresses pipelining cheap requests on a loaded machine cost probers a fifth of
 * their probes when both ports shared it) no longer delays a probe. The API's loop beats into
 * shared memory every HEARTBEAT_MS; the probe thread answers 503 when it has not for
 * PROBE_STALLED_MS, so a liveness probe still sees a stuck server. It asks this thread for
 * /metrics, and is asked for its own counts.
 */

/** How often the API's event loop says it turns. */
const HEARTBEAT_MS = 250;
/**
 * The probe thread's heap: a few probes at a time on at most PROBE_MAX_CONNECTIONS sockets need
 * little, and a young generation this small keeps its RSS low.
 */
const PROBE_THREAD_LIMITS = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 4 };

/** How long a question between the threads waits for its answer. */
const ANSWER_MS = 5_000;

/** What the probe port counts: its sockets, and its answers by HTTP status. */
export interface ProbeCounts {
  sockets: SocketCounts;
  answers: Record<string, number>;
}

/** What the probe thread is started with. */
export interface ProbeThreadData {
  appUrl: string;
  config: ServerConfig;
  committedMigrations: number;
  /** The API loop's last turn (Date.now(), one float), written by this thread. */
  heartbeat: SharedArrayBuffer;
  /** The port is bound by the other HTTP_WORKERS' probe threads too (SO_REUSEPORT). */
  shared: boolean;
}

/** The messages between the threads: questions and answers, and the probe thread's start. */
export type ThreadMessage =
  { id: number; ask: Question } | { id: number; answer: unknown } | { listening: number } | { failed: string } | { stop: true };

/** What one thread asks the other: the API's metrics' text and its verdict on the connections (/ready), the probe port's counts. */
type Question = "metrics" | "problem" | "counts";

/** Either end: the Worker in this thread, parentPort in the probe thread. */
interface Port {
  postMessage(message: ThreadMessage): void;
  on(event: "message", listener: (message: ThreadMessage) => void): unknown;
}

/**
 * Questions to the thread at the other end of `port`, answered by `answers` there: each with an
 * id, rejected after ANSWER_MS.
 */
export function questions(port: Port, answers: Partial<Record<Question, () => Promise<unknown>>>) {
  let next = 0;
  const waiting = new Map<number, (answer: unknown) => void>();
  port.on("message", (message: ThreadMessage) => {
    if ("ask" in message) {
      const { id, ask } = message;
      // An answer that fails is not sent: the question times out at the other end.
      answers[ask]?.().then(
        (answer) => port.postMessage({ id, answer }),
        () => undefined,
      );
    } else if ("answer" in message) waiting.get(message.id)?.(message.answer);
  });
  return <T>(ask: Question): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`no answer to "${ask}" within ${ANSWER_MS} ms`));
      }, ANSWER_MS).unref();
      waiting.set(id, (answer) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(answer as T);
      });
      port.postMessage({ id, ask });
    });
}

export interface ProbeThread {
  /** The port its listener bound. */
  port: number;
  /** Its counts, the last known when it does not answer. */
  counts(): Promise<ProbeCounts>;
  close(): Promise<void>;
}

const NO_COUNTS: ProbeCounts = { sockets: { open: 0, refused: 0, evicted: 0, tooSlow: 0, pipelined: 0 }, answers: {} };

/** Starts the probe thread; resolves once its listener is bound, rejects with its reason (the port taken…). */
export async function startProbeThread(
  appUrl: string,
  config: ServerConfig,
  committedMigrations: number,
  { render, connectionProblem, logger }: { render: RenderMetrics; connectionProblem: () => Promise<string | undefined>; logger: Logger },
): Promise<ProbeThread> {
  const beat = new Float64Array(new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT));
  beat[0] = Date.now();
  const heart = setInterval(() => (beat[0] = Date.now()), HEARTBEAT_MS).unref();
  const data: ProbeThreadData = { appUrl, config, committedMigrations, heartbeat: beat.buffer, shared: cluster.isWorker };
  const worker = new Worker(new URL("./probe-worker.ts", import.meta.url), { workerData: data, resourceLimits: PROBE_THREAD_LIMITS });
  const ask = questions(worker, { metrics: render, problem: connectionProblem });
  let [stopping, exited] = [false, false];
  worker.on("error", (error) => logger.error({ err: error }, "the probe thread failed"));
  worker.on("exit", (code) => {
    exited = true;
    clearInterval(heart);
    if (!stopping) logger.error({ code }, "the probe thread stopped: PROBE_PORT no longer answers");
  });
  const port = await new Promise<number>((resolve, reject) => {
    const started = (message: ThreadMessage) => {
      if ("listening" in message) resolve(message.listening);
      else if ("failed" in message) reject(new Error(message.failed));
      else return;
      worker.off("message", started);
    };
    worker.on("message", started);
    worker.once("exit", (code) => reject(new Error(`the probe thread exited (${code}) before listening`)));
  }).catch(async (error: unknown) => {
    stopping = true;
    await worker.terminate();
    throw error;
  });
  let last = NO_COUNTS;
  return {
    port,
    // One question for every gauge of a rendering that asks while it is answered.
    counts: sharedWhileRunning(async () => (last = await ask<ProbeCounts>("counts").catch(() => last))),
    async close() {
      stopping = true;
      clearInterval(heart);
      if (exited) return;
      worker.postMessage({ stop: true } satisfies ThreadMessage);
      // Its listener waits for probes in progress; a socket that never ends them is not waited for.
      const ended = new Promise((resolve) => worker.once("exit", resolve));
      const late = setTimeout(() => void worker.terminate(), ANSWER_MS).unref();
      await ended;
      clearTimeout(late);
    },
  };
}

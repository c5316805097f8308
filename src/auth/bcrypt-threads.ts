import { Worker } from "node:worker_threads";
import type { HashJob } from "./bcrypt-worker.ts";

/** How long a thread with nothing to hash is kept. */
const IDLE_MS = 30_000;

type Pending = { resolve: (result: string | boolean) => void; reject: (error: Error) => void };

/**
 * bcrypt on threads of its own, at a lower CPU priority (`nice`, BCRYPT_NICE) than the event loop
 * and PostgreSQL: a login storm then takes most of the CPU signed-in tenants' reads leave, instead
 * of an equal share with them. One thread per hash running at once, at most `size`; the hasher's
 * lines (passwords.ts) bound how many hashes ask. Threads start on first use, end after IDLE_MS
 * idle, and never keep the process alive while idle.
 */
export class BcryptThreads {
  /** Live threads, busy or idle: at most `size`. */
  private readonly threads = new Set<Worker>();
  /** Idle threads, each with the timer that ends it. */
  private readonly idle = new Map<Worker, NodeJS.Timeout>();
  /** The hash each busy thread runs. */
  private readonly running = new Map<Worker, Pending>();
  private readonly waiting: Array<{ job: HashJob; pending: Pending }> = [];
  private readonly size: number;
  private readonly nice: number;
  private readonly idleMs: number;

  constructor(size: number, nice: number, idleMs = IDLE_MS) {
    this.size = size;
    this.nice = nice;
    this.idleMs = idleMs;
  }

  hash(password: string, cost: number): Promise<string> {
    return this.run({ password, cost }) as Promise<string>;
  }

  compare(password: string, hash: string): Promise<boolean> {
    return this.run({ password, hash }) as Promise<boolean>;
  }

  private run(job: HashJob): Promise<string | boolean> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, pending: { resolve, reject } });
      this.dispatch();
    });
  }

  /** Gives waiting hashes to idle threads, then to new threads while there is room. */
  private dispatch(): void {
    while (this.waiting.length > 0) {
      const [idle] = this.idle.keys();
      if (idle) {
        clearTimeout(this.idle.get(idle));
        this.idle.delete(idle);
      } else if (this.threads.size >= this.size) {
        return;
      }
      const { job, pending } = this.waiting.shift()!;
      const worker = idle ?? this.start();
      this.running.set(worker, pending);
      worker.ref(); // a hash under way keeps the process up until it is answered
      worker.postMessage(job);
    }
  }

  private start(): Worker {
    const worker = new Worker(new URL("./bcrypt-worker.ts", import.meta.url), { workerData: { nice: this.nice } });
    this.threads.add(worker);
    worker.on("message", ({ result, error }: { result?: string | boolean; error?: string }) => {
      const pending = this.running.get(worker)!;
      this.running.delete(worker);
      this.rest(worker);
      if (error === undefined) pending.resolve(result!);
      else pending.reject(new Error(error));
      this.dispatch();
    });
    // A thread that dies fails its hash; waiting hashes go to a new thread.
    worker.on("error", () => {});
    worker.on("exit", () => {
      this.running.get(worker)?.reject(new Error("bcrypt thread exited"));
      this.running.delete(worker);
      this.retire(worker);
      this.dispatch();
    });
    return worker;
  }

  /** An idle thread waits for the next hash, and ends after `idleMs` without one. */
  private rest(worker: Worker): void {
    worker.unref();
    this.idle.set(worker, setTimeout(() => {
      this.retire(worker);
      void worker.terminate();
    }, this.idleMs).unref());
  }

  /** No hash goes to this thread any more, and it no longer counts towards `size`. */
  private retire(worker: Worker): void {
    clearTimeout(this.idle.get(worker));
    this.idle.delete(worker);
    this.threads.delete(worker);
  }
}

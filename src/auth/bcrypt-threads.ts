import { Worker } from "node:worker_threads";
import type { HashJob } from "./bcrypt-worker.ts";

/** How long a thread with nothing to hash is kept. */
const IDLE_MS = 30_000;

type Pending = { resolve: (result: string | boolean) => void; reject: (error: Error) => void };

/**
 * bcrypt on threads of its own, at a lower CPU priority (`nice`, BCRYPT_NICE) than the event loop
 * and PostgreSQL: a login storm then takes the CPU signed-in tenants' reads leave, instead of
 * sharing it equally with them. One thread per hash running at once; the hasher's lines
 * (passwords.ts) bound how many that is. Threads start on first use and never keep the process alive.
 */
export class BcryptThreads {
  private readonly idle: Worker[] = [];
  private readonly waiting: Array<{ job: HashJob; pending: Pending }> = [];
  /** The job each busy thread runs. */
  private readonly running = new Map<Worker, Pending>();
  private started = 0;
  private readonly size: number;
  private readonly nice: number;

  constructor(size: number, nice: number) {
    this.size = size;
    this.nice = nice;
  }

  hash(password: string, cost: number): Promise<string> {
    return this.run({ password, cost }) as Promise<string>;
  }

  compare(password: string, hash: string): Promise<boolean> {
    return this.run({ password, hash }) as Promise<boolean>;
  }

  private run(job: HashJob): Promise<string | boolean> {
    return new Promise((resolve, reject) => {
      const worker = this.idle.pop() ?? (this.started < this.size ? this.start() : undefined);
      if (worker) this.send(worker, job, { resolve, reject });
      else this.waiting.push({ job, pending: { resolve, reject } });
    });
  }

  private send(worker: Worker, job: HashJob, pending: Pending): void {
    this.running.set(worker, pending);
    worker.ref(); // a hash under way keeps the process up until it is answered
    worker.postMessage(job satisfies HashJob);
  }

  private start(): Worker {
    this.started += 1;
    const worker = new Worker(new URL("./bcrypt-worker.ts", import.meta.url), { workerData: { nice: this.nice } });
    worker.on("message", ({ result, error }: { result?: string | boolean; error?: string }) => {
      const pending = this.running.get(worker)!;
      this.running.delete(worker);
      if (error === undefined) pending.resolve(result!);
      else pending.reject(new Error(error));
      const next = this.waiting.shift();
      if (next) return this.send(worker, next.job, next.pending);
      this.rest(worker);
    });
    // A thread that dies fails its hash; the next hash starts a new thread.
    worker.on("error", (error) => this.running.get(worker)?.reject(error));
    worker.on("exit", () => {
      this.started -= 1;
      this.running.get(worker)?.reject(new Error("bcrypt thread exited"));
      this.running.delete(worker);
      const at = this.idle.indexOf(worker);
      if (at >= 0) this.idle.splice(at, 1);
    });
    return worker;
  }

  /** An idle thread waits for the next hash, and ends after IDLE_MS without one. */
  private rest(worker: Worker): void {
    worker.unref();
    this.idle.push(worker);
    setTimeout(() => {
      const at = this.idle.indexOf(worker);
      if (at < 0) return; // busy again
      this.idle.splice(at, 1);
      void worker.terminate();
    }, IDLE_MS).unref();
  }
}

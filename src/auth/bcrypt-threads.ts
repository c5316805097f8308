import { Piscina } from "piscina";
import type { HashJob } from "./bcrypt-worker.ts";

/** How long a thread with nothing to hash is kept. */
const IDLE_MS = 30_000;

/**
 * bcrypt on threads of its own (piscina), at a lower CPU priority (`niceIncrement`, BCRYPT_NICE)
 * than the event loop and PostgreSQL: a login storm then takes most of the CPU signed-in tenants'
 * reads leave, instead of an equal share with them. One thread per hash running at once, at most
 * `size`; the hasher's lines (passwords.ts) bound how many hashes ask, so piscina's own queue
 * (`maxQueue`) only holds hashes waiting for a thread that is starting. Threads start on first
 * use, end after `idleMs` idle, and never keep the process alive while idle.
 */
export class BcryptThreads {
  private readonly pool: Piscina<HashJob, string | boolean>;

  constructor(size: number, nice: number, idleMs = IDLE_MS) {
    this.pool = new Piscina({
      filename: new URL("./bcrypt-worker.ts", import.meta.url).href,
      minThreads: 0,
      maxThreads: size,
      concurrentTasksPerWorker: 1,
      idleTimeout: idleMs,
      maxQueue: size,
      niceIncrement: nice,
    });
  }

  hash(password: string, cost: number): Promise<string> {
    return this.pool.run({ password, cost }) as Promise<string>;
  }

  compare(password: string, hash: string): Promise<boolean> {
    return this.pool.run({ password, hash }) as Promise<boolean>;
  }
}

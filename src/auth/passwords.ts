import bcrypt from "bcrypt";
import { randomBytes } from "node:crypto";
import { busy } from "./errors.ts";

/** One bcrypt hash, in libuv's thread pool: for operator tools, outside any request. */
export function hashPassword(password: string, cost: number): Promise<string> {
  return bcrypt.hash(password, cost);
}

/** bcrypt for one request that holds a place in line. */
export interface Bcrypt {
  hash(password: string): Promise<string>;
  /**
   * Compares a password with a hash. With no hash (unknown e-mail) it compares with a dummy hash
   * of the same cost, so an unknown e-mail costs the same time as a wrong password.
   */
  matches(password: string, hash: string | null | undefined): Promise<boolean>;
}

export interface PasswordHasherOptions {
  cost: number;
  /** Hashes running at once (in libuv's thread pool, never on the event loop). */
  concurrency: number;
  /** Requests that may wait beyond those running. */
  queueLimit: number;
}

/**
 * bcrypt with a bounded line: `concurrency` hashes run, `queueLimit` more requests wait, and any
 * request beyond is refused at once with BUSY (503, Retry-After) before it does any other work.
 */
export function createPasswordHasher({ cost, concurrency, queueLimit }: PasswordHasherOptions) {
  let inLine = 0;
  let running = 0;
  const waiting: Array<() => void> = [];
  let dummyHash: Promise<string> | undefined;

  async function slot<T>(work: () => Promise<T>): Promise<T> {
    if (running < concurrency) running++;
    else await new Promise<void>((resolve) => waiting.push(resolve)); // a finishing hash hands over its slot
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  }

  const bcryptInLine: Bcrypt = {
    hash: (password) => slot(() => hashPassword(password, cost)),
    async matches(password, hash) {
      if (hash) return slot(() => bcrypt.compare(password, hash));
      dummyHash ??= slot(() => hashPassword(randomBytes(16).toString("hex"), cost));
      const dummy = await dummyHash;
      await slot(() => bcrypt.compare(password, dummy));
      return false;
    },
  };

  return {
    /**
     * Runs `flow` (a request that will hash) holding a place in bcrypt's line from its first step:
     * a request that would wait beyond the queue limit is refused before it touches the database.
     */
    async inLine<T>(flow: (bcrypt: Bcrypt) => Promise<T>): Promise<T> {
      if (inLine >= concurrency + queueLimit) throw busy();
      inLine++;
      try {
        return await flow(bcryptInLine);
      } finally {
        inLine--;
      }
    },
  };
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;

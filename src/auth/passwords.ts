import bcrypt from "bcrypt";
import { randomBytes } from "node:crypto";
import { FairLine, RecentCounts } from "../admission/fair-line.ts";
import { BcryptThreads } from "./bcrypt-threads.ts";
import { busy } from "../errors.ts";

/** One bcrypt hash, in libuv's thread pool: for operator tools, outside any request. */
export function hashPassword(password: string, cost: number): Promise<string> {
  return bcrypt.hash(password, cost);
}

/** bcrypt for one request that holds a turn in line. */
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
  /** Hashes running at once (on threads of their own, never on the event loop). */
  concurrency: number;
  /** Their threads' nice value (BCRYPT_NICE): 0 is the server's own priority, 19 the lowest. */
  nice?: number;
  /** Requests under way beyond those hashing (in the database or waiting for bcrypt), and as many more waiting to start. */
  queueLimit: number;
}

/** Who asks for a hash outside any client's request (the CLI's `tenants:create`). */
const OPERATOR = "operator";

/**
 * bcrypt with bounded, fair lines. A request that will hash takes one of `concurrency +
 * queueLimit` turns from its first step, or waits for one with at most `queueLimit` others;
 * beyond, it is refused at once with BUSY (503, Retry-After) before it touches the database.
 * Within, `concurrency` hashes run at once. Both lines are fair between clients (FairLine): the
 * next turn goes to the client that sent the fewest requests lately, and when the wait is full a
 * lighter client's request takes the place of the busiest one's. A crowd of sign-ins from many
 * addresses then takes turns among itself, and one from an address that sent few goes next.
 */
export function createPasswordHasher({ cost, concurrency, queueLimit, nice = 0 }: PasswordHasherOptions) {
  const threads = new BcryptThreads(concurrency, nice);
  const weights = new RecentCounts();
  const turns = new FairLine({ active: concurrency + queueLimit, waiting: queueLimit }, weights);
  const hashes = new FairLine({ active: concurrency, waiting: queueLimit }, weights); // never full: only requests holding a turn ask
  let dummyHash: Promise<string> | undefined;

  const bcryptFor = (client: string): Bcrypt => {
    const slot = <T>(work: () => Promise<T>) => hashes.run(client, work, busy);
    return {
      hash: (password) => slot(() => threads.hash(password, cost)),
      async matches(password, hash) {
        if (hash) return slot(() => threads.compare(password, hash));
        dummyHash ??= hashPassword(randomBytes(16).toString("hex"), cost); // once per process, outside the lines
        const dummy = await dummyHash;
        await slot(() => threads.compare(password, dummy));
        return false;
      },
    };
  };

  return {
    /**
     * Runs `flow` (a request that will hash) holding a turn in bcrypt's line from its first
     * step. `client` is the address (or account) the request comes from.
     */
    inLine<T>(flow: (bcrypt: Bcrypt) => Promise<T>, client = OPERATOR): Promise<T> {
      weights.add(client);
      return turns.run(client, () => flow(bcryptFor(client)), busy);
    },
  };
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;

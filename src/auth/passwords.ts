import bcrypt from "bcrypt";
import { randomBytes } from "node:crypto";
import os from "node:os";
import { integer } from "../config.ts";
import { invalidInput } from "./errors.ts";

/**
 * bcrypt runs in libuv's thread pool, off the event loop, but a login storm on four pool threads
 * still takes every core from the requests of signed-in tenants. At most this many hashes run at
 * once (default: one less than the cores); the others wait their turn.
 */
const BCRYPT_CONCURRENCY = integer(process.env, "BCRYPT_CONCURRENCY", Math.max(1, os.availableParallelism() - 1), 1, 64);
let running = 0;
const waiting: Array<() => void> = [];

async function limited<T>(work: () => Promise<T>): Promise<T> {
  if (running < BCRYPT_CONCURRENCY) running++;
  else await new Promise<void>((resolve) => waiting.push(resolve)); // a finishing hash hands over its slot
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

const MIN_LENGTH = 8;
/** bcrypt ignores every byte after the 72nd, so a longer password would not be what is checked. */
const MAX_BYTES = 72;

/** Returns the password when it meets the policy, or throws a clear INVALID_INPUT error. */
export function acceptablePassword(password: unknown, field = "password"): string {
  if (typeof password !== "string") throw invalidInput(`${field} is required`);
  if ([...password].length < MIN_LENGTH) throw invalidInput(`${field} must be at least ${MIN_LENGTH} characters`);
  if (Buffer.byteLength(password, "utf8") > MAX_BYTES) throw invalidInput(`${field} must be at most ${MAX_BYTES} bytes`);
  if (password.includes("\u0000")) throw invalidInput(`${field} must not contain NUL characters`);
  return password;
}

/** bcrypt in libuv's thread pool: the event loop keeps serving while it works. */
export function hashPassword(password: string, cost: number): Promise<string> {
  return limited(() => bcrypt.hash(password, cost));
}

const dummyHashes = new Map<number, Promise<string>>();

/**
 * Compares a password with a hash. With no hash (unknown e-mail) it compares with a dummy hash of
 * the same cost, so an unknown e-mail costs the same time as a wrong password.
 */
export async function passwordMatches(password: string, hash: string | undefined, cost: number): Promise<boolean> {
  if (hash) return limited(() => bcrypt.compare(password, hash));
  if (!dummyHashes.has(cost)) dummyHashes.set(cost, hashPassword(randomBytes(16).toString("hex"), cost));
  const dummy = await dummyHashes.get(cost)!;
  await limited(() => bcrypt.compare(password, dummy));
  return false;
}

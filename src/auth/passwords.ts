import bcrypt from "bcrypt";
import { randomBytes } from "node:crypto";
import { invalidInput } from "./errors.ts";

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
  return bcrypt.hash(password, cost);
}

const dummyHashes = new Map<number, Promise<string>>();

/**
 * Compares a password with a hash. With no hash (unknown e-mail) it compares with a dummy hash of
 * the same cost, so an unknown e-mail costs the same time as a wrong password.
 */
export async function passwordMatches(password: string, hash: string | undefined, cost: number): Promise<boolean> {
  if (hash) return bcrypt.compare(password, hash);
  if (!dummyHashes.has(cost)) dummyHashes.set(cost, bcrypt.hash(randomBytes(16).toString("hex"), cost));
  await bcrypt.compare(password, await dummyHashes.get(cost)!);
  return false;
}

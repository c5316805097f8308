import bcrypt from "bcrypt";
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { BcryptThreads } from "../../src/auth/bcrypt-threads.ts";
import { createPasswordHasher } from "../../src/auth/passwords.ts";

/** The nice value of one thread of this process (field 19 of its stat), or undefined once it ended. */
function niceOf(tid: string | number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  } catch {
    return undefined;
  }
}

/** Nice values of this process's threads. */
function threadNiceValues(): number[] {
  return fs.readdirSync("/proc/self/task").flatMap((tid) => niceOf(tid) ?? []);
}

describe("bcrypt as a lever: hashes run below the server's priority", () => {
  it("hashes and compares on threads at BCRYPT_NICE, never on the event loop's priority", async () => {
    const hasher = createPasswordHasher({ cost: 12, concurrency: 2, queueLimit: 0, nice: 7 });
    const before = threadNiceValues().filter((nice) => nice === 7).length;
    const hashing = Promise.all([hasher.inLine((b) => b.hash("first password")), hasher.inLine((b) => b.hash("second password"))]);
    let seen = 0;
    for (let i = 0; i < 200 && seen < 2; i++) {
      seen = threadNiceValues().filter((nice) => nice === 7).length - before;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const [first, second] = await hashing;
    expect(seen).toBe(2);
    expect(await bcrypt.compare("first password", first)).toBe(true);
    expect(await bcrypt.compare("second password", second)).toBe(true);
    expect(niceOf(process.pid)).toBe(0); // the event loop keeps its priority
    expect(await hasher.inLine((b) => b.matches("first password", first))).toBe(true);
    expect(await hasher.inLine((b) => b.matches("wrong password", first))).toBe(false);
    expect(await hasher.inLine((b) => b.matches("any password", null))).toBe(false);
  });

  it("a malformed stored hash does not match; a hash bcrypt refuses is an error; the thread goes on hashing", async () => {
    const hasher = createPasswordHasher({ cost: 4, concurrency: 1, queueLimit: 0, nice: 7 });
    expect(await hasher.inLine((b) => b.matches("password", "not a bcrypt hash"))).toBe(false);
    await expect(hasher.inLine((b) => b.hash(42 as unknown as string))).rejects.toThrow(/data must be a string/);
    expect(await bcrypt.compare("again", await hasher.inLine((b) => b.hash("again")))).toBe(true);
  });

  it("a hash asked for as an idle thread ends is answered (no hash waits for a thread that is going away)", async () => {
    const threads = new BcryptThreads(1, 0, 15); // threads end after 15 ms idle
    for (let i = 0; i < 40; i++) {
      const hash = await Promise.race([
        threads.hash(`password ${i}`, 4),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`hash ${i} not answered`)), 10_000)),
      ]);
      expect(hash).toMatch(/^\$2b\$04\$/);
      await new Promise((resolve) => setTimeout(resolve, 10 + (i % 10))); // around the moment the idle thread ends
    }
  });
});

import { describe, expect, it } from "vitest";
import { LoopShare } from "../../src/admission/loop-share.ts";

/** Resolves after `n` iterations of the event loop (each immediate queued by an immediate runs in the next one). */
const iterations = (n: number) =>
  new Promise<void>((resolve) => {
    const step = (left: number) => (left === 0 ? resolve() : setImmediate(() => step(left - 1)));
    step(n);
  });

describe("the requests an iteration of the event loop starts (HTTP_REQUESTS_PER_ITERATION)", () => {
  it("starts at once while under its share, then one client at a time in turn, a share per iteration", async () => {
    const share = new LoopShare(4);
    const started: string[] = [];
    const run = (client: string, name: string) => share.run(client, () => started.push(name));
    // A crowd's 12 requests from three addresses, then a tenant's one, in the same iteration.
    for (const crowd of ["a", "b", "c"]) for (let i = 0; i < 4; i++) run(crowd, `${crowd}${i}`);
    run("tenant", "t0");
    expect(started).toEqual(["a0", "a1", "a2", "a3"]);
    expect(share.deferred).toBe(9);
    await iterations(1);
    // The clients waiting take turns: the tenant's only request starts in the first rotation.
    expect(started.slice(4, 8)).toEqual(["b0", "c0", "t0", "b1"]);
    await iterations(3);
    expect(started).toHaveLength(13);
    // Idle again: the next request starts at once.
    run("d", "d0");
    expect(started.at(-1)).toBe("d0");
  });

  it("never starts more than its share in one iteration, however many clients wait", async () => {
    const share = new LoopShare(10);
    const perIteration: number[] = [];
    let count = 0;
    for (let client = 0; client < 1_000; client++) share.run(String(client), () => (count += 1));
    for (let i = 0; i < 150 && count < 1_000; i++) {
      const before = count;
      await iterations(1);
      perIteration.push(count - before);
    }
    expect(count).toBe(1_000);
    expect(Math.max(...perIteration)).toBeLessThanOrEqual(10);
  });
});

import nodeHttp from "node:http";
import { describe, expect, it } from "vitest";
import { LoopShare } from "../../src/admission/loop-share.ts";
import { graphql, signUp, startTestGateway } from "../helpers/gateway.ts";

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

describe("signed-in requests in the loop share (a turn per tenant, before anonymous clients)", () => {
  it("starts a waiting tenant's request before a crowd of anonymous addresses, and an anonymous one every fourth start", async () => {
    const share = new LoopShare(4);
    const started: string[] = [];
    const run = (client: string, name: string, tenant?: number) =>
      share.run(
        client,
        () => started.push(name),
        () => tenant,
      );
    for (let address = 0; address < 100; address++) run(`10.0.0.${address}`, `a${address}`);
    // Two tenants, one of them signed in from three addresses: it still has one turn.
    run("10.1.0.1", "t1-x", 1);
    run("10.1.0.2", "t1-y", 1);
    run("10.1.0.3", "t1-z", 1);
    run("10.2.0.1", "t2", 2);
    expect(started).toEqual(["a0", "a1", "a2", "a3"]);
    await iterations(1);
    // Tenants first, in turn; the fourth start of the rotation is an anonymous client's.
    expect(started.slice(4)).toEqual(["t1-x", "t2", "t1-y", "a4"]);
    await iterations(1);
    expect(started.slice(8)).toEqual(["t1-z", "a5", "a6", "a7"]);
  });

  it("asks for the tenant only of a request that waits", () => {
    const share = new LoopShare(2);
    let asked = 0;
    const tenantOf = () => ((asked += 1), 7);
    share.run("a", () => {}, tenantOf);
    share.run("a", () => {}, tenantOf);
    expect(asked).toBe(0);
    share.run("a", () => {}, tenantOf);
    expect(asked).toBe(1);
  });
});

describe("the loop share of a running server (HTTP_REQUESTS_PER_ITERATION=1)", () => {
  it("serves signed-in, wrongly signed and anonymous requests waiting together, each as it should be", { timeout: 60_000 }, async () => {
    const gw = await startTestGateway({ HTTP_REQUESTS_PER_ITERATION: "1" });
    try {
      const shop = await signUp(gw.url, "Shared Loop");
      const { port } = new URL(gw.url);
      const missing = (i: number) =>
        new Promise<number | undefined>((resolve) => {
          const asked = nodeHttp.get({
            port,
            host: "127.0.0.1",
            path: `/missing/${i}`,
            localAddress: `127.0.10.${(i % 250) + 1}`,
            agent: false,
          });
          asked.once("response", (res) => resolve(res.resume().statusCode));
          asked.once("error", () => resolve(undefined));
        });
      const query = "{ products { totalCount } }";
      const [anonymous, signedIn, forged] = await Promise.all([
        Promise.all(Array.from({ length: 200 }, (_, i) => missing(i))),
        Promise.all(Array.from({ length: 5 }, () => graphql(gw.url, query, {}, shop.access_token))),
        graphql(gw.url, query, {}, `${shop.access_token.slice(0, -4)}AAAA`),
      ]);
      expect(anonymous.every((status) => status === 404)).toBe(true);
      expect(signedIn.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200]);
      expect(forged.status).toBe(401);
    } finally {
      await gw.close();
    }
  });
});

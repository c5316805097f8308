import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { rawRequest, readUntilQuiet } from "../helpers/raw-socket.ts";

/**
 * HTTP/1.1 pipelining (HTTP_PIPELINED_REQUESTS): the second outside attack on issue 24 wrote 200
 * `GET /health` every 20 ms on one socket, reading the answers, and took the server to 4.5 GB.
 */
let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ HTTP_PIPELINED_REQUESTS: "16" });
});
afterAll(() => gw.close());

/** Writes `count` pipelined GET /health on one socket (from `localAddress`): the answers' statuses once the socket closed or went quiet. */
async function pipelined(port: number, count: number, localAddress?: string): Promise<{ statuses: string[]; closedByServer: boolean }> {
  const socket = rawRequest(port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n".repeat(count), localAddress);
  const { text, endedByServer } = await readUntilQuiet(socket, 1_000);
  return { statuses: text.match(/HTTP\/1\.1 \d+/g)?.map((line) => line.slice(9)) ?? [], closedByServer: endedByServer };
}

/** The sockets of `listener` closed for pipelining, from /metrics. */
async function closedForPipelining(gateway: TestGateway, listener: string): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return Number(new RegExp(`stoflow_http_sockets\\{listener="${listener}",state="pipelined"\\} (\\d+)`).exec(text)?.[1]);
}

describe("HTTP/1.1 pipelining", () => {
  it("answers a few pipelined requests, and closes a socket that pipelines more than HTTP_PIPELINED_REQUESTS (PROBE_REQUESTS_PER_ADDRESS on the probe port)", async () => {
    for (const [listener, url, few] of [
      ["main", gw.url, 10],
      ["probe", gw.probeUrl, 2], // probers never pipeline: 10 addresses keeping 16 each took its p99 past 1 s
    ] as const) {
      const port = Number(new URL(url).port);
      const closedBefore = await closedForPipelining(gw, listener);
      const answered = await pipelined(port, few);
      expect(answered.statuses).toEqual(Array(few).fill("200"));
      expect(answered.closedByServer).toBe(false);
      const many = await pipelined(port, listener === "main" ? 2_000 : 3);
      expect(many.closedByServer).toBe(true);
      expect(many.statuses.length).toBeLessThan(listener === "main" ? 2_000 : 3);
      expect(await closedForPipelining(gw, listener)).toBe(closedBefore + 1);
      expect((await fetch(`${url}/health`)).status).toBe(200);
    }
  });

  it("works on PROBE_REQUESTS_PER_ADDRESS (2) probes of an address at a time: beyond HTTP_PIPELINED_REQUESTS waiting, 429; other addresses are answered", async () => {
    const port = Number(new URL(gw.url).port);
    const [first, second, other] = await Promise.all([
      pipelined(port, 16, "127.0.7.1"),
      pipelined(port, 16, "127.0.7.1"),
      pipelined(port, 1, "127.0.7.2"),
    ]);
    const statuses = [...first.statuses, ...second.statuses];
    expect(statuses).toHaveLength(32);
    expect(statuses.filter((status) => status === "200").length).toBeGreaterThanOrEqual(18); // PROBE_REQUESTS_PER_ADDRESS (2) at work, 16 waiting
    expect(statuses).toContain("429");
    expect(statuses.filter((status) => status !== "200" && status !== "429")).toEqual([]);
    expect(other.statuses).toEqual(["200"]);
  });
});

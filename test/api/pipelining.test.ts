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

/** Writes `count` pipelined GET /health on one socket: the answers' statuses once the socket closed or went quiet. */
async function pipelined(port: number, count: number): Promise<{ statuses: string[]; closedByServer: boolean }> {
  const { text, endedByServer } = await readUntilQuiet(rawRequest(port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n".repeat(count)), 1_000);
  return { statuses: text.match(/HTTP\/1\.1 \d+/g)?.map((line) => line.slice(9)) ?? [], closedByServer: endedByServer };
}

/** The sockets of `listener` closed for pipelining, from /metrics. */
async function closedForPipelining(gateway: TestGateway, listener: string): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return Number(new RegExp(`stoflow_http_sockets\\{listener="${listener}",state="pipelined"\\} (\\d+)`).exec(text)?.[1]);
}

describe("HTTP/1.1 pipelining", () => {
  it("answers a few pipelined requests, and closes a socket that pipelines more than HTTP_PIPELINED_REQUESTS", async () => {
    for (const [listener, url] of [["main", gw.url], ["probe", gw.probeUrl]] as const) {
      const port = Number(new URL(url).port);
      const closedBefore = await closedForPipelining(gw, listener);
      const few = await pipelined(port, 10);
      expect(few.statuses).toEqual(Array(10).fill("200"));
      expect(few.closedByServer).toBe(false);
      const many = await pipelined(port, 2_000);
      expect(many.closedByServer).toBe(true);
      expect(many.statuses.length).toBeLessThan(2_000);
      expect(await closedForPipelining(gw, listener)).toBe(closedBefore + 1);
      expect((await fetch(`${url}/health`)).status).toBe(200);
    }
  });
});

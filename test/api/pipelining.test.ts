import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";

/**
 * HTTP/1.1 pipelining (HTTP_PIPELINED_REQUESTS): the second outside attack on issue 24 wrote 200
 * `GET /health` every 20 ms on one socket, reading the answers, and took the server to 4.5 GB.
 */
let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ HTTP_PIPELINED_REQUESTS: "16" });
});
afterAll(() => gw.close());

/** Writes `count` pipelined GET /health on one socket; resolves with the answers' statuses once the socket closed or went quiet. */
function pipelined(port: number, count: number): Promise<{ statuses: string[]; closedByServer: boolean }> {
  return new Promise((resolve) => {
    let text = "";
    let quiet: NodeJS.Timeout | undefined;
    const socket = net.connect({ port, host: "127.0.0.1" }, () => socket.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".repeat(count)));
    const finish = (closedByServer: boolean) => {
      clearTimeout(quiet);
      socket.destroy();
      resolve({ statuses: text.match(/HTTP\/1\.1 \d+/g)?.map((line) => line.slice(9)) ?? [], closedByServer });
    };
    socket.on("data", (chunk) => {
      text += chunk.toString("latin1");
      clearTimeout(quiet);
      quiet = setTimeout(() => finish(false), 1_000);
    });
    socket.on("close", () => finish(true));
    socket.on("error", () => undefined);
  });
}

describe("HTTP/1.1 pipelining", () => {
  it("answers a few pipelined requests, and closes a socket that pipelines more than HTTP_PIPELINED_REQUESTS", async () => {
    const port = Number(new URL(gw.url).port);
    const few = await pipelined(port, 10);
    expect(few.statuses).toEqual(Array(10).fill("200"));
    expect(few.closedByServer).toBe(false);
    const many = await pipelined(port, 2_000);
    expect(many.closedByServer).toBe(true);
    expect(many.statuses.length).toBeLessThan(2_000);
    expect((await fetch(`${gw.url}/health`)).status).toBe(200);
  });
});

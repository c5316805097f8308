import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw.close());

/** Writes `bytes` on a new socket and resolves with everything the server sent before closing it. */
function exchange(bytes: string | Buffer): Promise<string> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    let answer = "";
    const socket = net.connect({ port: Number(port), host: "127.0.0.1" }, () => socket.write(bytes));
    socket.on("data", (chunk) => (answer += chunk.toString("latin1")));
    socket.once("close", () => resolve(answer));
    socket.once("error", reject);
  });
}

describe("requests Node cannot parse", () => {
  it.each([
    ["an unknown method", "BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "BAD_REQUEST"],
    ["two Content-Lengths", "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, "BAD_REQUEST"],
    [
      "Transfer-Encoding with Content-Length",
      "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      400,
      "BAD_REQUEST",
    ],
    [
      "binary garbage",
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]),
      400,
      "BAD_REQUEST",
    ],
    ["100 kB of headers", `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(100_000)}\r\n\r\n`, 431, "HEADERS_TOO_LARGE"],
  ])("answers %s with a JSON body and a stable code, then closes", async (_name, bytes, status, code) => {
    const answer = await exchange(bytes);
    expect(answer.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
    expect(answer).toContain("Connection: close");
    expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toMatchObject({ code });
  });

  it("keeps serving after them", async () => {
    expect(await exchange("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).toMatch(/^HTTP\/1\.1 200 /);
  });
});

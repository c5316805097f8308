import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway } from "../../src/server.ts";
import { configOver, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ HTTP_ACCEPTORS: "4" });
});
afterAll(() => gw.close());

/** Sockets listening on `port` (TCP state 0A in /proc/net/tcp and tcp6). */
function listeningOn(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return ["/proc/net/tcp", "/proc/net/tcp6"]
    .flatMap((file) => fs.readFileSync(file, "utf8").split("\n").slice(1))
    .filter((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1]?.endsWith(`:${hex}`) && fields[3] === "0A";
    }).length;
}

/** GET /health from `localAddress` on a connection of its own: its status. */
function healthFrom(url: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/health`, { agent: false, localAddress }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      })
      .once("error", reject);
  });
}

describe("the API's port accepts on several listening sockets (HTTP_ACCEPTORS)", () => {
  it("binds the port once more per acceptor, and every socket is served and guarded as one server's", async () => {
    const port = Number(new URL(gw.url).port);
    expect(listeningOn(port)).toBe(5);
    // 60 clients of their own address: the kernel spreads them over the five listening sockets.
    const statuses = await Promise.all(Array.from({ length: 60 }, (_, i) => healthFrom(gw.url, `127.3.0.${i + 1}`)));
    expect(statuses.every((status) => status === 200)).toBe(true);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(
      Number(/^stoflow_http_requests_total\{route="\/health",method="GET",status="200"\} (\d+)/m.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(60);
  });

  it("keeps a single listening socket with HTTP_ACCEPTORS=0, and gives every one back when it closes", async () => {
    const plain = await startGateway(gw.db.appUrl, configOver(gw.db, { HTTP_ACCEPTORS: "0" }));
    const port = Number(new URL(plain.url).port);
    expect(listeningOn(port)).toBe(1);
    await plain.close();
    const many = await startGateway(gw.db.appUrl, configOver(gw.db, { HTTP_ACCEPTORS: "3" }));
    const manyPort = Number(new URL(many.url).port);
    expect(listeningOn(manyPort)).toBe(4);
    await many.close();
    expect(listeningOn(manyPort)).toBe(0);
    // The port is free again: a plain server binds it.
    const reuse = net.createServer();
    await new Promise<void>((resolve, reject) => reuse.once("error", reject).listen(manyPort, resolve));
    await new Promise((resolve) => reuse.close(resolve));
  });

  it("stops every listening socket at once on close, while requests are still in progress on them", async () => {
    const closing = await startGateway(gw.db.appUrl, configOver(gw.db, { HTTP_ACCEPTORS: "3" }));
    const port = Number(new URL(closing.url).port);
    // 40 clients, spread over the four listening sockets, each in the middle of its headers.
    const sockets = await Promise.all(
      Array.from(
        { length: 40 },
        (_, i) =>
          new Promise<net.Socket>((resolve) => {
            const socket = net.connect({ port, host: "127.0.0.1", localAddress: `127.4.0.${i + 1}` }, () => resolve(socket));
            socket.write("GET /health HTTP/1.1\r\nHost: x\r\n");
            socket.on("error", () => {});
          }),
      ),
    );
    const closed = closing.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(listeningOn(port)).toBe(0);
    for (const socket of sockets) socket.destroy();
    await closed;
  });

  it("refuses a port another server holds with SO_REUSEPORT, instead of sharing it silently", async () => {
    const port = Number(new URL(gw.url).port);
    await expect(startGateway(gw.db.appUrl, configOver(gw.db, { PORT: String(port), PROBE_PORT: "0" }))).rejects.toThrow(
      `Port ${port} is already in use: stop the other server or set PORT`,
    );
    expect(listeningOn(port)).toBe(5);
  });
});

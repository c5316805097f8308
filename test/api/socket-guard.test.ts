import http from "node:http";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { SocketGuard, type SocketLimits } from "../../src/admission/socket-guard.ts";
import { until } from "../helpers/until.ts";

/**
 * The socket guard on a plain HTTP server of its own, in this process: what each rule does to
 * real sockets (the crowds tests measure it under load, against a server in a process of its own).
 */
const servers: http.Server[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  sockets.splice(0).forEach((socket) => socket.destroy());
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

const LIMITS: SocketLimits = { max: 4, perClient: 4, slowMs: 60_000, graceMs: 100, minRate: 0, pipelined: 4 };

/** A server guarded with `limits`, answering 200 to every request; its port and guard. */
async function guardedServer(limits: Partial<SocketLimits>) {
  const server = http.createServer();
  servers.push(server);
  const guard = new SocketGuard({ ...LIMITS, ...limits });
  guard.attach(server, (_req, res) => res.end("ok"));
  const accepted: net.Socket[] = [];
  server.on("connection", (socket: net.Socket) => accepted.push(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as net.AddressInfo).port, guard, accepted };
}

const connect = (port: number, localAddress: string) =>
  new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress }, () => resolve(socket)).once("error", reject);
    socket.on("error", () => undefined);
    sockets.push(socket);
  });

describe("the socket guard", () => {
  it("with evictYoung (the probe port): a newcomer takes the place of a heavier client's idle socket, however young", async () => {
    const { port, guard } = await guardedServer({ evictYoung: true });
    const crowd = await Promise.all(Array.from({ length: 4 }, () => connect(port, "127.0.9.1")));
    await until("4 sockets held", () => guard.counts.open === 4);
    await connect(port, "127.0.9.2");
    await until("one of the crowd's evicted", () => guard.counts.evicted === 1);
    expect(crowd.filter((socket) => socket.closed || socket.readableEnded).length).toBeLessThanOrEqual(1);
    expect(guard.counts.open).toBe(4);
  });

  it("closes a socket that sends its headers slower than minRate after its grace", async () => {
    const { port, guard } = await guardedServer({ minRate: 1_000, graceMs: 100 });
    const slow = await connect(port, "127.0.9.21");
    slow.write("GET / HTTP/1.1\r\n");
    await new Promise((resolve) => setTimeout(resolve, 150));
    guard.sweep(Date.now()); // marks the start of its measure
    await new Promise((resolve) => setTimeout(resolve, 150));
    guard.sweep(Date.now());
    expect(guard.counts.tooSlow).toBe(1);
    await until("the slow socket closed", () => slow.closed);
  });

  it("counts an upgraded socket for its client but never evicts it", async () => {
    const { port, guard, accepted } = await guardedServer({ evictYoung: true, max: 1 });
    const held = await connect(port, "127.0.9.31");
    await until("the socket held", () => guard.counts.open === 1);
    guard.upgraded(accepted[0]);
    await connect(port, "127.0.9.32");
    await until("the newcomer refused", () => guard.counts.refused === 1);
    expect(held.closed).toBe(false);
  });
});

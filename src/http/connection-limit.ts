import type net from "node:net";

/**
 * Open sockets per client address: beyond `max`, a new connection is closed at once, before a byte
 * of it is read or parsed. A flood of connections from one address then costs the event loop
 * almost nothing, where even a 429 costs a parsed request and an answer. Only where the socket's
 * address is the client's: behind a proxy (TRUST_PROXY) every socket comes from the proxy.
 */
export function limitConnectionsPerAddress(server: net.Server, max: number): void {
  const open = new Map<string, number>();
  server.on("connection", (socket: net.Socket) => {
    const address = socket.remoteAddress ?? "unknown";
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) return void socket.destroy();
    open.set(address, count);
    socket.once("close", () => {
      const left = open.get(address)! - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}

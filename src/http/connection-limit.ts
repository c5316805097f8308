import type net from "node:net";

/** Hextets of an IPv6 address that name its network: one client usually holds a whole /64. */
const IPV6_NETWORK_HEXTETS = 4;

/**
 * Whose socket this is: an IPv4 address, or the /64 network of an IPv6 address (one client gets
 * a /64 from its provider, and could otherwise open sockets from 2^64 addresses).
 */
export function clientOfAddress(address: string): string {
  if (!address.includes(":") || address.includes(".")) return address; // IPv4, or IPv4 mapped into IPv6
  const [head = "", tail = ""] = address.toLowerCase().split("::");
  const headHextets = head ? head.split(":") : [];
  const tailHextets = tail ? tail.split(":") : [];
  const zeros = Array<string>(Math.max(0, 8 - headHextets.length - tailHextets.length)).fill("0");
  const hextets = address.includes("::") ? [...headHextets, ...zeros, ...tailHextets] : headHextets;
  return `${hextets.slice(0, IPV6_NETWORK_HEXTETS).map((h) => h.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/**
 * Open sockets per client (address, or IPv6 /64): beyond `max`, a new connection is closed at
 * once, before a byte of it is read or parsed. A flood of connections from one client then costs
 * the event loop almost nothing, where even a 429 costs a parsed request and an answer. Only where
 * the socket's address is the client's: behind a proxy (TRUST_PROXY) every socket comes from it.
 */
export function limitConnectionsPerAddress(server: net.Server, max: number): void {
  const open = new Map<string, number>();
  server.on("connection", (socket: net.Socket) => {
    const address = clientOfAddress(socket.remoteAddress ?? "unknown");
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

import fs from "node:fs";
import net from "node:net";

/**
 * A TCP port that was free on localhost a moment ago, for a server that cannot pick its own
 * (PostgreSQL, PgBouncer). It is drawn at random below the kernel's range of ephemeral ports: a
 * port from that range (what listen(0) hands out) can be taken by any outgoing connection of a
 * busy test run between this check and the server's bind.
 */
export async function freePort(): Promise<number> {
  const top = Math.max(ephemeralPortsStart(), 20_000);
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * (top - 10_000));
    if (await canListen(port)) return port;
  }
}

function ephemeralPortsStart(): number {
  try {
    return Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch {
    return 32_768;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.on("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** Whether something accepts TCP connections on a local port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.end(() => resolve(true)));
    socket.on("error", () => resolve(false));
  });
}

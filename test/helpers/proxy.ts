import net from "node:net";

/** A TCP relay to a local port that can make the network go silent, as a lost link does. */
export interface SilentProxy {
  port: number;
  /** Stops forwarding on every connection without closing any: only a client-side limit ends a wait. */
  blackHole(): void;
  /** New connections are forwarded again (the silent ones stay silent, like connections lost with a link). */
  heal(): void;
  close(): Promise<void>;
}

export async function silentProxy(targetPort: number): Promise<SilentProxy> {
  const links = new Set<{ silent: boolean; sockets: net.Socket[] }>();
  let silent = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    const link = { silent, sockets: [client, upstream] };
    links.add(link);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on("data", (data) => {
        if (!link.silent) to.write(data);
      });
      from.on("error", () => to.destroy());
      from.on("close", () => {
        links.delete(link);
        to.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    blackHole() {
      silent = true;
      for (const link of links) link.silent = true;
    },
    heal() {
      silent = false;
    },
    close() {
      for (const link of links) link.sockets.forEach((socket) => socket.destroy());
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP relay in front of a local port that, once told to stall, leaves every other new connection unanswered. */
export interface StallingRelay {
  port: number;
  /** From now on, every other new connection hangs: accepted, never forwarded, never closed. */
  stall(): void;
  close(): Promise<void>;
}

export async function stallingRelay(targetPort: number): Promise<StallingRelay> {
  let stalling = false;
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client.once("close", () => sockets.delete(client)).on("error", () => undefined));
    if (stalling && connections++ % 2 === 0) return; // no greeting, ever: the client's timeout ends it
    const upstream = net.connect(targetPort, "127.0.0.1").on("error", () => client.destroy());
    client.pipe(upstream).pipe(client);
    client.once("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stall: () => void (stalling = true),
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

import type http from "node:http";
import net from "node:net";

/**
 * More ways in for new connections to one HTTP server. libuv accepts one connection per listening
 * socket per turn of the event loop (libuv/libuv#3696; measured here on Node 22). A crowd keeping the API busy with cheap
 * requests (300 addresses × 16 pipelined `/health`) made each turn last about 90 ms: the port
 * accepted 11 connections a second, and a newcomer waited in the kernel's queue behind the
 * crowd's own connections for more than 8 s, while every socket already open was answered in
 * milliseconds (measured with strace and `ss -ltn`: one accept4 per epoll_wait, 105 connections
 * queued). Listening sockets of the same port (SO_REUSEPORT; the kernel spreads connections among
 * them) each take one connection per turn, and hand it to `server` as Node documents for
 * connections accepted elsewhere (a `connection` event emitted by hand). No library changes how
 * libuv accepts; Node's cluster does it in another process, which `HTTP_WORKERS` already uses.
 */
export interface Acceptors {
  /** Binds `count` more listening sockets to `port`, the one `server` listens on with `reusePort`. */
  listen(port: number): Promise<void>;
  /** Stops listening at once; resolves once every socket they accepted has ended. */
  close(): Promise<void>;
}

export function acceptorsOf(server: http.Server, count: number, backlog: number): Acceptors {
  const extra: net.Server[] = [];
  return {
    async listen(port) {
      for (let i = 0; i < count; i++) {
        // noDelay as http.createServer sets it, so that a socket behaves whichever listener took it.
        const acceptor = net.createServer({ noDelay: true }, (socket) => server.emit("connection", socket));
        await new Promise<void>((resolve, reject) => {
          acceptor.once("error", reject);
          acceptor.listen({ port, backlog, reusePort: true }, resolve);
        });
        extra.push(acceptor);
      }
    },
    async close() {
      await Promise.all(extra.splice(0).map((acceptor) => new Promise((resolve) => acceptor.close(resolve))));
    },
  };
}

/** Rejects with EADDRINUSE when `port` is taken: a port bound with `reusePort` would otherwise be shared with another server silently. */
export function ensurePortFree(port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen({ port }, () => probe.close(() => resolve()));
  });
}

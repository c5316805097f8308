import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * `node test/attacks/control-server.ts`: an HTTP server that answers every request 200 at once,
 * in a process of its own, printing its URL. Probed beside the server under attack, it measures
 * what the machine alone adds to a probe (scheduling on busy cores), so that it is not counted
 * against the server.
 */
const server = http.createServer((_req, res) => res.end('{"status":"ok"}'));
server.listen(0, "127.0.0.1", () => console.log(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
process.on("SIGTERM", () => process.exit(0));

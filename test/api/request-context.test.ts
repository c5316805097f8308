import http from "node:http";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { withContext } from "../../src/http/request-context.ts";

/**
 * The request context is opened first thing, for every request the listeners take. A socket the
 * server has already closed (the socket guard evicts sockets under a crowd) has no address any
 * more: its request must still get a context, not crash the process (crowds.test.ts found it).
 */
describe("the request context", () => {
  it("opens for a request whose socket has no address any more", () => {
    const req = new http.IncomingMessage(new net.Socket()); // never connected: no remoteAddress, as once destroyed
    req.url = "/graphql?x=1";
    const seen: Array<typeof req.context> = [];
    withContext(
      () => false,
      (request) => seen.push(request.context),
    )(req, new http.ServerResponse(req));
    expect(seen).toEqual([{ path: "/graphql", clientIp: "unknown", client: "unknown" }]);
  });

  it("reads the client behind a trusted proxy, and weighs an IPv6 client by its /64", () => {
    const socket = new net.Socket();
    Object.defineProperty(socket, "remoteAddress", { value: "10.0.0.1" });
    const req = new http.IncomingMessage(socket);
    req.url = "/api/auth/login";
    req.headers["x-forwarded-for"] = "2001:db8:0:1::7";
    const seen: Array<typeof req.context> = [];
    withContext(
      () => true,
      (request) => seen.push(request.context),
    )(req, new http.ServerResponse(req));
    expect(seen).toEqual([{ path: "/api/auth/login", clientIp: "2001:db8:0:1::7", client: "2001:db8:0:1::/64" }]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import jwt from "jsonwebtoken";
import { signAccessToken, verifyAccessToken } from "../../src/auth/tokens.ts";
import WebSocket from "ws";
import { startGateway } from "../../src/server.ts";
import { graphql, graphqlOk, http, signUp, startTestGateway, configOver, type TestGateway } from "../helpers/gateway.ts";
import { until } from "../helpers/until.ts";
import { closedWith, liveClient, type LiveClient } from "../helpers/live.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "live updates (subscriptions)");

let gw: TestGateway;
let a: Awaited<ReturnType<typeof signUp>>;
let b: Awaited<ReturnType<typeof signUp>>;
const clients: LiveClient[] = [];

beforeAll(async () => {
  gw = await startTestGateway({
    LIVE_MERGE_MS: "20",
    LIVE_SOCKETS_PER_ADDRESS: "6",
    LIVE_SUBSCRIPTIONS_PER_SOCKET: "3",
    LIVE_SOCKETS_PER_TENANT: "4",
    CORS_ORIGINS: "https://app.stoflow.test",
  });
  a = await signUp(gw.url, "Live Victim", "standard");
  b = await signUp(gw.url, "Live Attacker", "standard");
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await gw.close();
});

/** A client from its own loopback address (127.x.y.z are distinct clients), kept for disposal. */
let addresses = 0;
function open(token: string | undefined) {
  const client = liveClient(gw.url, token, { localAddress: `127.0.${Math.floor(++addresses / 250)}.${(addresses % 250) + 1}` });
  clients.push(client);
  return client;
}
const settle = (ms = 150) => new Promise((resolve) => setTimeout(resolve, ms));

const PRODUCTS = "subscription { productChanged { event sku sequence product { sku title } } }";
const create = (token: string, sku: string) =>
  graphqlOk(
    gw.url,
    `mutation($sku: String!) { createProduct(input: { product: { sku: $sku, title: "Secret", price: "1.00" } }) { product { sku } } }`,
    { sku },
    token,
  );

describe("tenant scoping", () => {
  it("a forged notification naming another tenant's topic and a victim's key delivers the key, never the victim's row", async () => {
    await create(a.access_token, "VICTIM-1");
    const attacker = open(b.access_token);
    await attacker.follow("products", PRODUCTS);
    await settle();
    // What a compromised process with database access could send: the attacker's topic, the victim's key.
    const forged = [
      { t: b.tenant.id, k: "product", op: "UPDATE", id: "VICTIM-1" },
      { t: b.tenant.id, k: "product", op: "INSERT", id: { sku: "VICTIM-1" } },
      { t: "1 or 1=1", k: "product", op: "UPDATE", id: "x" },
      { t: b.tenant.id, k: "__proto__", op: "UPDATE", id: "x" },
    ];
    for (const payload of forged) await gw.db.owner.query("select pg_notify('stoflow_live', $1)", [JSON.stringify(payload)]);
    await gw.db.owner.query("select pg_notify('stoflow_live', 'not json')");
    const [event] = await attacker.received("products", 1);
    await settle(300);
    expect(attacker.events.get("products")).toEqual([
      { data: { productChanged: { event: "UPDATED", sku: "VICTIM-1", sequence: 1, product: null } } },
    ]);
    expect(event).toBeDefined();
    record(
      "forged NOTIFY payloads: another tenant's key on the attacker's topic, object ids, bad tenant ids and kinds, non-JSON",
      forged.length + 1,
      "the key alone is delivered, the row read under the subscriber's RLS is null; malformed ones are dropped",
    );
  });

  it("subscriptions to every kind, while another tenant writes 40 products at once, receive nothing", async () => {
    const victimWrites = Array.from({ length: 40 }, (_, i) => `RACE-${i}`);
    const attacker = open(b.access_token);
    await attacker.follow("p1", PRODUCTS);
    await attacker.follow("p2", "subscription { vintedProductChanged { event sku vintedProduct { sku status } } }");
    await attacker.follow("p3", "subscription { aiGenerationFinished { event rowId aiGeneration { generatedText } } }");
    await settle();
    await Promise.all(victimWrites.map((sku) => create(a.access_token, sku)));
    await settle(400);
    expect([...attacker.events.values()].flat()).toEqual([]);
    record("subscriptions to every kind while another tenant writes 40 products at once", 40, "0 events delivered across tenants");
  });

  it("subscriptions take no arguments: a topic or tenant cannot be named by the client", async () => {
    const attacker = open(b.access_token);
    const answers = await Promise.all(
      [
        `subscription { productChanged(tenantId: ${a.tenant.id}) { sku } }`,
        `subscription { productChanged(topic: "${a.tenant.id}:product") { sku } }`,
      ].map(async (query, i) => {
        await attacker.follow(`q${i}`, query);
        await settle(200);
        return attacker.errors.get(`q${i}`);
      }),
    );
    for (const errors of answers) expect(JSON.stringify(errors)).toContain("Unknown argument");
    record(
      "a subscription naming another tenant's id or topic as an argument",
      2,
      "refused by validation: the topic comes from the token's claims only",
    );
  });
});

describe("authentication on the socket", () => {
  it("no token, a forged token, a token signed with another secret: closed 4403 before any subscription", async () => {
    const forged = jwt.sign(
      { tenant_id: a.tenant.id, role: "admin", sid: "00000000-0000-0000-0000-000000000000" },
      "wrong-secret-wrong-secret-wrong-secret",
      {
        subject: "1",
        expiresIn: 600,
      },
    );
    const outcomes = await Promise.all(
      [undefined, "not-a-token", forged].map(async (token) => {
        const client = open(token);
        void client.follow("products", PRODUCTS).catch(() => undefined);
        return closedWith(client);
      }),
    );
    for (const closed of outcomes) expect(closed.code).toBe(4403);
    record("connection_init without a token, with garbage, with a token of another secret", 3, "closed 4403 Forbidden");
  });

  it("logout closes the session's sockets within a second, and the token cannot open a new one", async () => {
    const login = await http(gw.url, "POST", "/api/auth/login", { body: { email: a.email, password: a.password } });
    const token = login.body.access_token as string;
    const sockets = [open(token), open(token)];
    for (const socket of sockets) await socket.follow("products", PRODUCTS);
    const started = Date.now();
    expect((await http(gw.url, "POST", "/api/auth/logout", { token })).status).toBe(204);
    for (const socket of sockets) expect(await closedWith(socket, 2_000)).toEqual({ code: 4403, reason: "Session ended" });
    expect(Date.now() - started).toBeLessThan(1_000);
    const again = open(token);
    void again.follow("products", PRODUCTS).catch(() => undefined);
    expect((await closedWith(again)).code).toBe(4403);
    record("a socket kept open after logout, and a new socket with the logged-out token", 3, "closed 4403 within 1 s; the new one refused");
  });

  it("a token that expires closes its socket with 4403 when it does", async () => {
    const claims = verifyAccessToken(gw.config.jwt, a.access_token);
    const shortLived = signAccessToken({ ...gw.config.jwt, accessTtlSeconds: 2 }, claims);
    const client = open(shortLived);
    await client.follow("products", PRODUCTS);
    const started = Date.now();
    expect(await closedWith(client, 5_000)).toEqual({ code: 4403, reason: "Token expired" });
    expect(Date.now() - started).toBeLessThan(3_000);
    record("a socket held past its token's expiry", 1, "closed 4403 at expiry");
  });
});

describe("transport limits", () => {
  it("a browser page of another origin cannot open a socket; the API's own origin and CORS_ORIGINS can", async () => {
    const hostile = await fetchUpgrade({ origin: "https://evil.test" });
    expect(hostile.status).toBe(403);
    expect((await fetchUpgrade({ origin: "https://app.stoflow.test" })).status).toBe(101);
    expect((await fetchUpgrade({ origin: `http://127.0.0.1:${new URL(gw.url).port}` })).status).toBe(101);
    record("a WebSocket from a disallowed Origin (cross-site WebSocket hijacking)", 1, "403 before the upgrade");
  });

  it("subscriptions per socket, sockets per address and per tenant are capped, in parallel", async () => {
    const client = open(a.access_token);
    await Promise.all([0, 1, 2, 3, 4].map((i) => client.follow(`s${i}`, PRODUCTS)));
    await settle(300);
    const refused = [...client.errors.values()].flat().map((e) => JSON.stringify(e));
    expect(refused.length).toBe(2);
    for (const error of refused) expect(error).toContain("TOO_MANY_SUBSCRIPTIONS");

    const upgrades = await Promise.all(Array.from({ length: 10 }, () => fetchUpgrade({}, "127.0.200.1")));
    expect(upgrades.filter((u) => u.status === 101).length).toBe(6);
    expect(upgrades.filter((u) => u.status === 429).length).toBe(4);

    const crowd = Array.from({ length: 6 }, () => open(b.access_token));
    await Promise.all(crowd.map((c) => c.follow("products", PRODUCTS).catch(() => undefined)));
    await settle(300);
    const closedByTenantCap = crowd.filter((c) => c.closed?.code === 1013);
    expect(closedByTenantCap.length).toBeGreaterThanOrEqual(2);
    record(
      "5 subscriptions on a socket allowing 3; 10 sockets at once from one address allowing 6; a tenant's sockets beyond its cap",
      21,
      "TOO_MANY_SUBSCRIPTIONS; 429 before the upgrade; closed 1013",
    );
  });

  it("queries and mutations over the socket, and subscriptions over HTTP, are refused; the document limits hold", async () => {
    const client = open(a.access_token);
    await client.follow("mutation", `mutation { deleteProduct(input: { sku: "VICTIM-1" }) { product { sku } } }`);
    await client.follow(
      "deep",
      `subscription { productChanged { product { ${"vintedProduct { product { ".repeat(10)} sku ${"} } ".repeat(10)} } } }`,
    );
    await settle(300);
    expect(JSON.stringify(client.errors.get("mutation"))).toContain("UNSUPPORTED_OPERATION");
    expect(JSON.stringify(client.errors.get("deep"))).toMatch(/QUERY_TOO_DEEP|too deep|depth/i);
    const overHttp = await graphql(gw.url, PRODUCTS, {}, a.access_token);
    expect(overHttp.body.errors?.[0].extensions?.code).toBe("UNSUPPORTED_OPERATION");
    expect((await graphqlOk(gw.url, `{ product(sku: "VICTIM-1") { sku } }`, {}, a.access_token)).product).toEqual({ sku: "VICTIM-1" });
    record(
      "a mutation sent over the socket (past the HTTP lines), a subscription 22 levels deep, a subscription over POST",
      3,
      "UNSUPPORTED_OPERATION, the depth limit, UNSUPPORTED_OPERATION; nothing changed",
    );
  });
});

describe("a crowd of sign-ins", () => {
  it("40 addresses signing in at once beyond LIVE_STARTS_PER_SECOND: the excess is closed 1013 before any database check, the rest served", async () => {
    const other = await startGateway(gw.db.appUrl, configOver(gw.db, { LIVE_STARTS_PER_SECOND: "5" }));
    const crowd: LiveClient[] = [];
    try {
      for (let i = 0; i < 40; i++) crowd.push(liveClient(other.url, b.access_token, { localAddress: `127.0.170.${i + 1}` }));
      await Promise.all(crowd.map((c) => c.follow("products", PRODUCTS).catch(() => undefined)));
      await settle(500);
      const busy = crowd.filter((c) => c.closed?.code === 1013).length;
      expect(busy).toBeGreaterThan(20);
      expect(crowd.length - busy).toBeGreaterThanOrEqual(5);
      expect(other.live.sockets.counts.busy).toBeGreaterThanOrEqual(busy); // and subscriptions refused BUSY on the sockets let in
    } finally {
      await Promise.all(crowd.map((c) => c.dispose()));
      await other.close();
    }
    record(
      "40 addresses opening a socket and signing in at the same moment, 5 a second allowed",
      40,
      "the excess closed 1013 (try again later) before any database check",
    );
  });
});

describe("hostile frames", () => {
  it("frames over the size limit, unmasked, of bad UTF-8 or a reserved opcode, from many addresses at once, close their own socket only", async () => {
    const frames: Record<string, (socket: import("node:net").Socket) => void> = {
      "a 200 kB text frame": (socket) =>
        socket.write(Buffer.concat([Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0, 3, 0x0d, 0x40, 1, 2, 3, 4]), Buffer.alloc(200_000, 0x61)])),
      "an unmasked frame": (socket) => socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69])),
      "bad UTF-8": (socket) => socket.write(Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0xff ^ 1, 0xfe ^ 2])),
      "opcode 3": (socket) => socket.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4])),
    };
    const outcomes = await Promise.all(
      Object.entries(frames).flatMap(([name, send], i) =>
        Array.from({ length: 5 }, (_, n) => rawUpgrade(`127.0.${150 + i}.${n + 1}`, send).then((ended) => [name, ended] as const)),
      ),
    );
    for (const [, ended] of outcomes) expect(ended).toBe(true);
    expect((await http(gw.url, "GET", "/health")).status).toBe(200);
    expect(await fetch(`${gw.probeUrl}/health`).then((r) => r.status)).toBe(200);
    record(
      "hostile WebSocket frames (200 kB, unmasked, bad UTF-8, reserved opcode), 5 addresses each at once",
      outcomes.length,
      "each socket closed by the protocol; the server keeps serving",
    );
  });

  it("a flood of messages closes the socket (1008); a client-sent next closes it as a bad request (4400)", async () => {
    const flooder = open(a.access_token);
    await flooder.follow("products", PRODUCTS);
    const socket = new WebSocket(gw.url.replace(/^http/, "ws") + "/graphql", "graphql-transport-ws", { localAddress: "127.0.160.1" });
    const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
    await new Promise((resolve) => socket.once("open", resolve));
    socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${a.access_token}` } }));
    for (let i = 0; i < 200; i++) socket.send(JSON.stringify({ type: "ping" }));
    expect(await closed).toBe(1008);
    const wrong = new WebSocket(gw.url.replace(/^http/, "ws") + "/graphql", "graphql-transport-ws", { localAddress: "127.0.160.2" });
    const wrongClosed = new Promise<number>((resolve) => wrong.once("close", (code) => resolve(code)));
    await new Promise((resolve) => wrong.once("open", resolve));
    wrong.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${a.access_token}` } }));
    await new Promise((resolve) => wrong.once("message", resolve));
    wrong.send(JSON.stringify({ id: "1", type: "next", payload: {} }));
    expect(await wrongClosed).toBe(4400);
    record("200 messages at once on one socket; a client-sent `next`", 201, "closed 1008 (LIVE_MESSAGES_PER_SECOND); closed 4400");
  });
});

describe("slow consumers", () => {
  it("a socket that stops reading while 300 events are sent is closed at the next ping; the server stays responsive", async () => {
    const other = await startGateway(
      gw.db.appUrl,
      configOver(gw.db, { LIVE_PING_MS: "300", LIVE_MERGE_MS: "0", LIVE_QUEUED_EVENTS: "16" }),
    );
    try {
      const reader = new WebSocket(other.url.replace(/^http/, "ws") + "/graphql", "graphql-transport-ws", { autoPong: false });
      const closed = new Promise<number>((resolve) => reader.once("close", (code) => resolve(code)));
      await new Promise((resolve) => reader.once("open", resolve));
      reader.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${b.access_token}` } }));
      await new Promise((resolve) => reader.once("message", resolve));
      reader.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: PRODUCTS } }));
      await settle(200);
      reader.pause(); // reads nothing from now on, pongs included
      const skus = Array.from({ length: 20 }, (_, i) => `FLOOD-${i}`);
      await Promise.all(skus.map((sku) => create(b.access_token, sku)));
      for (let round = 0; round < 14; round++) {
        await Promise.all(
          skus.map((sku) =>
            graphqlOk(
              gw.url,
              `mutation($sku: String!, $t: String!) { updateProduct(input: { sku: $sku, patch: { title: $t } }) { product { sku } } }`,
              { sku, t: `Round ${round}` },
              b.access_token,
            ),
          ),
        );
      }
      const started = Date.now();
      await until("the reader's socket to be closed by the server", () => (other.live.sockets.counts.unanswered ?? 0) > 0, 5_000);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(other.live.hub.subscriptions).toBe(0);
      reader.resume();
      expect(await closed).toBe(1006);
      expect((await http(other.url, "GET", "/health")).status).toBe(200);
    } finally {
      await other.close();
    }
    record(
      "a subscriber that stops reading (no pong) while 300 events are sent",
      300,
      "closed at the next ping, its subscription and queue dropped (at most LIVE_QUEUED_EVENTS held)",
    );
  });
});

/** Upgrades a raw socket from `address`, sends what `send` writes; resolves true once the server has closed it (within 5 s). */
async function rawUpgrade(address: string, send: (socket: import("node:net").Socket) => void): Promise<boolean> {
  const net = await import("node:net");
  const { port } = new URL(gw.url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port: Number(port), localAddress: address });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 5_000);
    socket.once("connect", () =>
      socket.write(
        `GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n`,
      ),
    );
    let upgraded = false;
    socket.on("data", (chunk) => {
      if (!upgraded && chunk.toString().startsWith("HTTP/1.1 101")) {
        upgraded = true;
        send(socket);
      }
    });
    socket.on("error", () => undefined);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(upgraded);
    });
  });
}

/** A raw upgrade request to /graphql from `address`; resolves with the status the server answered. */
async function fetchUpgrade(headers: Record<string, string>, address = "127.0.100.1"): Promise<{ status: number }> {
  const { request } = await import("node:http");
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      localAddress: address,
      port,
      path: "/graphql",
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-protocol": "graphql-transport-ws",
        ...headers,
      },
    });
    req.on("upgrade", (res, socket) => {
      resolve({ status: res.statusCode ?? 0 });
      setTimeout(() => socket.destroy(), 2_000);
    });
    req.on("response", (res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
    });
    req.on("error", reject);
    req.end();
  });
}

import nodeHttp from "node:http";
import net from "node:net";
import { getIntrospectionQuery } from "postgraphile/graphql";
import parsePrometheus from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientOfAddress } from "../../src/admission/client-address.ts";
import { HASHING_MUTATIONS, HASHING_ROUTES } from "../../src/auth/hashing-operations.ts";
import {
  configOver,
  graphql,
  graphqlOk,
  http,
  signUp,
  spawnServer,
  startTestGateway,
  type TestGateway,
  withServer,
} from "../helpers/gateway.ts";
import { startGateway } from "../../src/server.ts";
import { GENEROUS_LIMITS } from "../helpers/limits.ts";
import { readUntilQuiet } from "../helpers/raw-socket.ts";
import { until } from "../helpers/until.ts";
import { attackRecorder } from "./recorder.ts";
import { transportCounts } from "./siege.ts";

const record = attackRecorder(import.meta.filename, "floods");

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw.close());

/** Tasks the line of never-seen documents has run, from /metrics. */
async function newDocumentTasks(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^stoflow_graphql_new_documents\{state="run"\} (\S+)/m.exec(text)![1]);
}

/** A socket to `port` from `localAddress`, once connected. */
const connectFrom = (port: number, localAddress: string) =>
  new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress }, () => resolve(socket)).once("error", reject);
  });

/** Whether the server closed `socket` within a second (or already has). */
const closedSoon = (socket: net.Socket) =>
  new Promise<boolean>((resolve) => {
    if (socket.closed) return resolve(true);
    const timer = setTimeout(resolve, 1_000, false);
    socket.once("error", () => undefined).once("close", () => (clearTimeout(timer), resolve(true)));
  });

/** A server over the suite's database with `env`; `holding(n)` waits until its API port holds n sockets (probe port's /metrics). */
async function withSocketsServer(env: NodeJS.ProcessEnv, work: (port: number, holding: (n: number) => Promise<void>) => Promise<void>) {
  const other = await startGateway(gw.db.appUrl, configOver(gw.db, env));
  const holding = (n: number) =>
    until(`the server to hold ${n} sockets`, async () => (await transportCounts(other.probeUrl))["sockets.main.open"] === n);
  try {
    await work(Number(new URL(other.url).port), holding);
  } finally {
    await other.close();
  }
}

/**
 * A seller's page (a query every 50 ms from one address: more than any address of the crowd)
 * beside 200 addresses each sending a query every 400 ms (500 a second offered), signed in as
 * `crowdToken(i)` or anonymous; over 90 % of the seller's queries must be served while the line
 * refuses the crowd's.
 */
async function expectSellerServedBesideCrowd(url: string, sellerToken: string, crowdToken: (i: number) => string | undefined) {
  const query = "{ products(first: 20) { nodes { sku } } }";
  const ask = (token: string | undefined, address: string) =>
    http(url, "POST", "/graphql", {
      body: { query: token ? query : "{ tiers { nodes { name } } }" },
      token,
      headers: { "x-forwarded-for": address },
    }).then((a) => a.status);
  const end = Date.now() + 6_000;
  const crowdAnswers: number[] = [];
  const crowd = Array.from({ length: 200 }, async (_, i) => {
    while (Date.now() < end) {
      const paced = new Promise((resolve) => setTimeout(resolve, 400));
      crowdAnswers.push(await ask(crowdToken(i), `192.0.2.${(i % 200) + 1}`));
      await paced;
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const sellerAnswers: number[] = [];
  while (Date.now() < end - 500) {
    const paced = new Promise((resolve) => setTimeout(resolve, 50));
    sellerAnswers.push(await ask(sellerToken, "198.51.100.9"));
    await paced;
  }
  await Promise.all(crowd);
  expect(crowdAnswers.filter((status) => status === 503).length).toBeGreaterThan(100); // the line was full all along
  const served = sellerAnswers.filter((status) => status === 200).length;
  expect(served / sellerAnswers.length, `seller: ${served} of ${sellerAnswers.length} served`).toBeGreaterThan(0.9);
}

describe("floods from one client", () => {
  it("closes the sockets of clients that send their headers too slowly", async () => {
    await withServer(gw, { HTTP_HEADERS_TIMEOUT_MS: "300", HTTP_REQUEST_TIMEOUT_MS: "300" }, async (url) => {
      const { port } = new URL(url);
      const sockets = Array.from({ length: 20 }, () => net.connect(Number(port), "127.0.0.1"));
      const closed = sockets.map(
        (socket) =>
          new Promise<string>((resolve) => {
            let answer = "";
            socket.on("data", (chunk) => (answer += chunk.toString()));
            socket.on("close", () => resolve(answer));
            socket.write("POST /graphql HTTP/1.1\r\nHost: x\r\n");
            const drip = setInterval(() => socket.writable && socket.write("X-Slow: 1\r\n"), 100);
            socket.on("close", () => clearInterval(drip));
          }),
      );
      const answers = await Promise.all(closed);
      expect(answers.every((a) => a === "" || a.startsWith("HTTP/1.1 408"))).toBe(true);
      expect((await http(url, "GET", "/health")).status).toBe(200);
    });
    record("20 slowloris sockets dripping headers", 20, "closed after the headers timeout (408), the server still serves");
  });

  it("works on a few requests per address at a time and refuses a flood beyond its queue with 429", async () => {
    await withServer(gw, { HTTP_CLIENT_CONCURRENCY: "2", HTTP_CLIENT_QUEUE: "3", BCRYPT_COST: "8" }, async (url) => {
      const flood = Array.from({ length: 30 }, (_, i) =>
        http(url, "POST", "/api/auth/login", { body: { email: `flood${i}@x.test`, password: "wrong password" } }),
      );
      const health = await http(url, "GET", "/health");
      const answers = await Promise.all(flood);
      expect(health.status).toBe(200);
      const refused = answers.filter((a) => a.status === 429);
      expect(refused.length).toBeGreaterThanOrEqual(20);
      expect(refused.every((a) => a.body.code === "TOO_MANY_REQUESTS" && a.headers.get("retry-after") === "1")).toBe(true);
      expect(answers.filter((a) => a.status !== 429).every((a) => a.status === 401)).toBe(true);
      expect(answers.filter((a) => a.status === 401).length).toBeGreaterThanOrEqual(5);
      // Once the flood drained, the address is served again.
      expect((await http(url, "POST", "/api/auth/login", { body: { email: "after@x.test", password: "wrong password" } })).status).toBe(
        401,
      );
    });
    record(
      "30 parallel logins from one address (2 at a time, 3 waiting)",
      30,
      "5 served in turn, the rest 429 TOO_MANY_REQUESTS with Retry-After; /health unaffected",
    );
  });

  it("closes an address's sockets beyond HTTP_CLIENT_CONNECTIONS at once, before reading them; other addresses still connect", async () => {
    await withServer(gw, { HTTP_CLIENT_CONNECTIONS: "4" }, async (url) => {
      const port = Number(new URL(url).port);
      const sockets = await Promise.all(Array.from({ length: 12 }, () => connectFrom(port, "127.0.0.7")));
      const closed = await Promise.all(sockets.map(closedSoon));
      expect(closed.filter(Boolean).length).toBe(8);
      const fromOther = await new Promise<number | undefined>((resolve) => {
        nodeHttp
          .get({ port, host: "127.0.0.1", path: "/health", localAddress: "127.0.0.8" }, (res) => resolve(res.resume().statusCode))
          .once("error", () => resolve(undefined));
      });
      expect(fromOther).toBe(200);
      for (const socket of sockets) socket.destroy();
    });
    record(
      "12 idle sockets from one address, with room for 4 (HTTP_CLIENT_CONNECTIONS=4)",
      12,
      "8 closed at once, 4 kept; another address still served",
    );
  });

  it("keeps HTTP_CLIENT_CONNECTIONS_FLOOR sockets of an address beside a crowd of addresses short of the cap, not near it", async () => {
    await withSocketsServer({ HTTP_MAX_CONNECTIONS: "100", HTTP_CLIENT_CONNECTIONS_FLOOR: "4" }, async (port, holding) => {
      // 50 addresses, one socket each: an even share of the cap would be 100 / 51, 1 socket.
      const crowd = await Promise.all(Array.from({ length: 50 }, (_, i) => connectFrom(port, `127.0.6.${i + 1}`)));
      await holding(50);
      const browser = await Promise.all(Array.from({ length: 6 }, () => connectFrom(port, "127.0.7.1")));
      expect((await Promise.all(browser.map(closedSoon))).filter(Boolean).length).toBe(2);
      // 40 more addresses: 94 of 100 sockets open, past nine tenths of the cap, where the even share counts.
      crowd.push(...(await Promise.all(Array.from({ length: 40 }, (_, i) => connectFrom(port, `127.0.6.${i + 51}`)))));
      await holding(94);
      const late = await Promise.all(Array.from({ length: 2 }, () => connectFrom(port, "127.0.7.2")));
      expect((await Promise.all(late.map(closedSoon))).filter(Boolean).length).toBe(1);
      for (const socket of [...crowd, ...browser, ...late]) socket.destroy();
    });
    record(
      "a browser's 6 sockets from one address beside 50 one-socket addresses (HTTP_MAX_CONNECTIONS=100, HTTP_CLIENT_CONNECTIONS_FLOOR=4)",
      56,
      "4 kept (the floor, not the even share of 1), 2 closed; past nine tenths of the cap, a new address keeps 1 of 2",
    );
  });

  it("at HTTP_MAX_CONNECTIONS with every socket young (a crowd reconnecting at once), a newcomer takes a heavier address's place", async () => {
    await withSocketsServer({ HTTP_MAX_CONNECTIONS: "20", HTTP_SLOW_REQUEST_MS: "60000" }, async (port, holding) => {
      // 4 addresses × 5 idle sockets: the cap, and none of them old enough to be slow.
      const crowd = await Promise.all(Array.from({ length: 20 }, (_, i) => connectFrom(port, `127.0.8.${(i % 4) + 1}`)));
      await holding(20);
      const answered = await new Promise<number | undefined>((resolve) => {
        const asked = nodeHttp.get({ port, host: "127.0.0.1", path: "/health", localAddress: "127.0.8.9", agent: false, timeout: 5_000 });
        asked.once("response", (res) => resolve(res.resume().statusCode));
        asked.once("timeout", () => asked.destroy());
        asked.once("error", () => resolve(undefined));
      });
      expect(answered).toBe(200);
      expect((await Promise.all(crowd.map(closedSoon))).filter(Boolean).length).toBe(1);
      for (const socket of crowd) socket.destroy();
    });
    record(
      "20 idle sockets from 4 addresses, all younger than HTTP_SLOW_REQUEST_MS, at HTTP_MAX_CONNECTIONS=20; then a new address",
      21,
      "the new address is served: one socket without a request of the heaviest address makes room (before, it was reset: 10 of 185 tenant connections under 5,000 addresses × 4 reconnecting at once)",
    );
  });

  it("closes sockets beyond HTTP_MAX_CONNECTIONS at once, whatever their addresses, and serves again once they go", async () => {
    await withServer(gw, { HTTP_MAX_CONNECTIONS: "20" }, async (url) => {
      const port = Number(new URL(url).port);
      // 40 idle sockets from 10 addresses, each under the per-address limit.
      const sockets = await Promise.all(Array.from({ length: 40 }, (_, i) => connectFrom(port, `127.0.5.${(i % 10) + 1}`)));
      const closed = await Promise.all(sockets.map(closedSoon));
      expect(closed.filter(Boolean).length).toBe(20);
      for (const socket of sockets) socket.destroy();
      await until("served again", async () => (await http(url, "GET", "/health").catch(() => ({ status: 0 }))).status === 200, 10_000);
    });
    record(
      "40 idle sockets from 10 addresses (4 each, under the per-address limit) against HTTP_MAX_CONNECTIONS=20",
      40,
      "20 closed at once, before a byte is read (the process keeps files for its database and answers); served again once they go",
    );
  });

  it("counts an IPv6 client by its /64 network, which one client holds whole", () => {
    expect(clientOfAddress("2001:db8:0:0:ffff::2")).toBe(clientOfAddress("2001:db8::1"));
    expect(clientOfAddress("2001:db8:0:1::1")).not.toBe(clientOfAddress("2001:db8::1"));
    expect(clientOfAddress("203.0.113.7")).toBe("203.0.113.7");
    expect(clientOfAddress("::ffff:203.0.113.7")).toBe("::ffff:203.0.113.7");
  });

  it("answers pipelined requests, each in turn", async () => {
    const port = Number(new URL(gw.url).port);
    const answer = await new Promise<string>((resolve, reject) => {
      let text = "";
      const socket = net.connect({ port, host: "127.0.0.1" }, () => {
        socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2) + "GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      });
      socket
        .on("data", (chunk) => (text += chunk.toString()))
        .once("close", () => resolve(text))
        .once("error", reject);
    });
    expect(answer.match(/HTTP\/1\.1 200 OK\r\n/g)?.length).toBe(3);
    record("3 pipelined requests on one socket (HTTP/1.1)", 3, "each answered 200 in turn");
  });

  it("sheds a flood from many addresses beyond the server's own line with 503 BUSY; the probes are not in it", async () => {
    await withServer(gw, { TRUST_PROXY: "loopback", HTTP_SERVER_CONCURRENCY: "2", HTTP_SERVER_QUEUE: "3" }, async (url) => {
      const query = "{ tiers(orderBy: RANK_ASC) { nodes { name maxProducts } } }";
      expect((await graphql(url, query)).status).toBe(200);
      const flood = Array.from({ length: 40 }, (_, i) =>
        http(url, "POST", "/graphql", {
          body: { query },
          headers: { "x-forwarded-for": `203.0.113.${i + 1}` },
        }),
      );
      const health = await http(url, "GET", "/health");
      const answers = await Promise.all(flood);
      expect(health.status).toBe(200);
      const busy = answers.filter((a) => a.status === 503);
      // How many are shed depends on how fast the first ones finish; without the line, none would be.
      expect(busy.length).toBeGreaterThan(0);
      expect(busy.every((a) => a.body.errors?.[0]?.extensions?.code === "BUSY" && a.headers.get("retry-after") === "1")).toBe(true);
      const served = answers.filter((a) => a.status !== 503);
      expect(served.length).toBeGreaterThanOrEqual(5);
      expect(served.every((a) => a.status === 200 && a.body.data.tiers.nodes.length === 5)).toBe(true);
      expect((await graphql(url, query)).status).toBe(200);
    });
    record(
      "40 parallel GraphQL queries from 40 addresses (server line: 2 at a time, 3 waiting)",
      40,
      "at least 5 served in turn, the overflow 503 BUSY (GraphQL shape) with Retry-After; /health unaffected",
    );
  });

  describe("a seller beside crowds, against a server line of 2 + 4", () => {
    let server: Awaited<ReturnType<typeof spawnServer>>;
    let seller: Awaited<ReturnType<typeof signUp>>;
    let bots: Awaited<ReturnType<typeof signUp>>[];
    beforeAll(async () => {
      server = await spawnServer(gw.db.appUrl, {
        TRUST_PROXY: "loopback",
        HTTP_SERVER_CONCURRENCY: "2",
        HTTP_SERVER_QUEUE: "4",
        ...GENEROUS_LIMITS,
      });
      [seller, ...bots] = await Promise.all(Array.from({ length: 9 }, (_, i) => signUp(server.url, `Weighed ${i}`)));
    });
    afterAll(async () => {
      server.child.kill();
      await server.exited;
    });

    it("weighs signed-in requests by tenant: a crowd signed in as 8 tenants from 200 addresses, each pacing itself, leaves a seller its turns", async () => {
      await expectSellerServedBesideCrowd(server.url, seller.access_token, (i) => bots[i % bots.length].access_token);
      record(
        "a crowd signed in as 8 tenants from 200 addresses, each address a query every 400 ms, against a server line of 2 + 4; a seller's query every 50 ms from one address",
        200,
        "over 90 % of the seller's queries served: the line weighs a signed-in request by its tenant, not its address (the eighth outside attack: 126 tenants from 1,500 addresses refused 98 % of a seller's requests)",
      );
    });

    it("serves signed-in tenants before anonymous addresses: a crowd of 200 addresses without accounts, each pacing itself, leaves a seller its turns", async () => {
      await expectSellerServedBesideCrowd(server.url, seller.access_token, () => undefined);
      record(
        "an anonymous crowd of 200 addresses, each a query every 400 ms, against a server line of 2 + 4; a seller's query every 50 ms from one address",
        200,
        "over 90 % of the seller's queries served: signed-in tenants go before anonymous addresses but for one turn in four, and take their places in a full line (the ninth outside attack: 2,000 anonymous addresses refused 97 % of a seller's requests, each address weighing less than the seller)",
      );
    });
  });

  it("refuses a crowd of sign-ins beyond the bcrypt line at once, so it holds no place others need", async () => {
    await withServer(gw, { TRUST_PROXY: "loopback", BCRYPT_COST: "10", BCRYPT_CONCURRENCY: "1", BCRYPT_QUEUE_LIMIT: "8" }, async (url) => {
      expect((await graphql(url, "{ __typename }")).status).toBe(200); // planned once, before the crowd
      const crowd = Array.from({ length: 120 }, (_, i) =>
        http(url, "POST", "/api/auth/login", {
          body: { email: `crowd${i}@x.test`, password: "wrong password" },
          headers: { "x-forwarded-for": `192.0.2.${(i % 40) + 1}` },
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = Date.now();
      const others = await Promise.all(Array.from({ length: 3 }, () => graphql(url, "{ __typename }")));
      const othersMs = Date.now() - started;
      const answers = await Promise.all(crowd);
      expect(others.map((a) => a.status)).toEqual([200, 200, 200]);
      expect(othersMs).toBeLessThan(5_000); // behind the crowd, they would wait for its 120 hashes one by one
      const busy = answers.filter((a) => a.status === 503);
      expect(busy.length).toBeGreaterThanOrEqual(90);
      expect(busy.every((a) => a.body.code === "BUSY" && a.headers.get("retry-after") === "1")).toBe(true);
      expect(answers.filter((a) => a.status !== 503).every((a) => a.status === 401)).toBe(true);
    });
    record(
      "120 wrong sign-ins in flight from 40 addresses (3 each, under every per-address limit)",
      120,
      "beyond the bcrypt line (1 running, 8 waiting) 503 BUSY at once; GraphQL from another address answered meanwhile",
    );
  });

  it("takes GraphQL sign-ins out of the server's line while they wait for bcrypt, as their REST twins", async () => {
    await withServer(
      gw,
      { TRUST_PROXY: "loopback", HTTP_SERVER_CONCURRENCY: "1", HTTP_SERVER_QUEUE: "0", BCRYPT_COST: "12", BCRYPT_CONCURRENCY: "1" },
      async (url) => {
        expect((await graphql(url, "{ __typename }")).status).toBe(200);
        const login = (i: number) => `login(input: { email: "graphql-crowd${i}@x.test", password: "wrong password" }) { accessToken }`;
        const documents = [
          `mutation { ${login(1)} }`,
          `mutation Named { ${login(2)} }`,
          `mutation { ...L } fragment L on Mutation { ${login(3)} }`,
          'mutation { register(input: { name: "Hashing Line Shop", email: "hashing-line@x.test", password: "a long password" }) { accessToken } }',
        ];
        let hashed = 0;
        const signIns = documents.map((query, i) =>
          http(url, "POST", "/graphql", { body: { query }, headers: { "x-forwarded-for": `192.0.2.${i + 1}` } }).then(
            (answer) => ((hashed += 1), answer),
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
        const others = [];
        for (let i = 0; i < 3; i++) others.push(await graphql(url, "{ __typename }"));
        const hashedMeanwhile = hashed;
        const answers = await Promise.all(signIns);
        // With one server place and none waiting, a sign-in holding it would make these 503 BUSY.
        expect(others.map((a) => a.status)).toEqual([200, 200, 200]);
        expect(hashedMeanwhile).toBeLessThan(documents.length); // some sign-ins were still waiting for bcrypt
        expect(answers.slice(0, 3).map((a) => a.body.errors?.[0]?.extensions?.code)).toEqual([
          "INVALID_CREDENTIALS",
          "INVALID_CREDENTIALS",
          "INVALID_CREDENTIALS",
        ]);
        expect(answers[3].body.data?.register?.accessToken).toEqual(expect.any(String));
      },
    );
    record(
      "4 GraphQL sign-ins and registrations (one through a fragment) waiting for bcrypt (1 at a time), against a server line of 1 place and none waiting",
      4,
      "they leave the server's line once their document is known (the same list of hashing operations as REST): other queries answered 200 meanwhile",
    );
  });

  it("keeps one list of hashing operations for REST and GraphQL: every route and mutation in it exists", async () => {
    const mutations = (await graphqlOk(gw.url, "{ __schema { mutationType { fields { name } } } }")).__schema.mutationType.fields.map(
      (f: { name: string }) => f.name,
    );
    expect(mutations).toEqual(expect.arrayContaining([...HASHING_MUTATIONS]));
    for (const route of HASHING_ROUTES) expect((await http(gw.url, "POST", route, { body: {} })).status, route).not.toBe(404);
    expect([...HASHING_ROUTES].length).toBeGreaterThanOrEqual(5);
  });

  it("lets a sign-in from a quiet address through a crowd of wrong sign-ins that retries at once on BUSY", async () => {
    // The server in a process of its own, so that the crowd goes as fast as it would from outside.
    const server = await spawnServer(gw.db.appUrl, {
      TRUST_PROXY: "loopback",
      BCRYPT_COST: "10",
      BCRYPT_CONCURRENCY: "1",
      BCRYPT_QUEUE_LIMIT: "8",
    });
    try {
      const { url } = server;
      const user = await signUp(url, "Crowded Out Shop");
      const end = Date.now() + 6_000;
      const crowdAnswers: number[] = [];
      // 40 addresses, 3 sign-ins in flight each (under every per-address limit), retrying at once.
      const crowd = Array.from({ length: 120 }, async (_, i) => {
        while (Date.now() < end) {
          const answer = await http(url, "POST", "/api/auth/login", {
            body: { email: `crowd${i}@x.test`, password: "wrong password" },
            headers: { "x-forwarded-for": `192.0.2.${(i % 40) + 1}` },
          });
          crowdAnswers.push(answer.status);
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const signIns = [];
      for (let i = 0; i < 3; i++) {
        signIns.push(
          await http(url, "POST", "/api/auth/login", {
            body: { email: user.email, password: user.password },
            headers: { "x-forwarded-for": "198.51.100.7" },
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      await Promise.all(crowd);
      expect(signIns.map((a) => a.status)).toEqual([200, 200, 200]);
      expect(crowdAnswers.filter((status) => status === 503).length).toBeGreaterThan(100); // the line was full all along
    } finally {
      server.child.kill();
      await server.exited;
    }
    record(
      "a crowd of wrong sign-ins from 40 addresses (3 in flight each) retrying at once on 503 for 6 s; a user's 3 sign-ins meanwhile",
      120,
      "the bcrypt line is fair: the user's sign-ins (an address that sent few) take the place of the busiest address's and all succeed",
    );
  });

  it("keeps no server place for clients that send their bodies slowly: others are served at once", async () => {
    await withServer(gw, { HTTP_SERVER_CONCURRENCY: "2", HTTP_SERVER_QUEUE: "2" }, async (url) => {
      const port = Number(new URL(url).port);
      // 16 requests from 4 addresses announce 100 kB and send its first bytes only.
      const slow = await Promise.all(
        Array.from(
          { length: 16 },
          (_, i) =>
            new Promise<net.Socket>((resolve) => {
              const socket = net.connect({ port, host: "127.0.0.1", localAddress: `127.0.2.${(i % 4) + 1}` }, () => {
                socket.write(
                  `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"query":"`,
                );
                resolve(socket);
              });
              socket.on("error", () => undefined);
            }),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: 4 }, () => graphql(url, "{ __typename }")));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
      expect(Date.now() - started).toBeLessThan(5_000);
      for (const socket of slow) socket.destroy();
    });
    record(
      "16 requests from 4 addresses sending their bodies slowly, against a server line of 2 (+2 waiting)",
      16,
      "they hold no server place while their body arrives: other clients answered 200 at once",
    );
  });

  it("gives the server's place back once an answer is handed over: clients that do not read their answers hold none", async () => {
    const { token, query } = await wideAnswers("Unread Answers Shop");
    await withServer(gw, { HTTP_SERVER_CONCURRENCY: "2", HTTP_SERVER_QUEUE: "2", GRAPHQL_MAX_COST: WIDE_COST }, async (url) => {
      // 8 sockets from 4 addresses ask for about 11 MB each and never read it.
      const unread: net.Socket[] = [];
      for (let i = 0; i < 8; i++) {
        unread.push(await unreadAnswer(url, `127.0.4.${(i % 4) + 1}`, query, token));
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      // Served once the unread answers are built (503 BUSY meanwhile: the line is 2 + 2). Were
      // those answers holding their places until read, it would take the socket timeout (60 s).
      let served = 0;
      await until(
        "4 queries of another client answered",
        async () => {
          const answer = await graphql(url, "{ products { totalCount } }", {}, token);
          expect([200, 503]).toContain(answer.status);
          served += answer.status === 200 ? 1 : 0;
          return served === 4;
        },
        20_000,
      );
      // The answers were larger than the sockets' buffers: they were still waiting to be read.
      const received = await Promise.all(unread.map((socket) => readUntilQuiet(socket)));
      expect(received.filter(({ bytes }) => bytes > 10_000_000).length).toBeGreaterThanOrEqual(2);
    });
    record(
      "8 signed-in sockets from 4 addresses asking for 11 MB answers and never reading them, against a server line of 2 (+2 waiting)",
      8,
      "the server's place is given back as each answer is handed over: other requests answered 200 within seconds, not after the socket timeout",
    );
  });

  it("closes a socket that does not take its answer for HTTP_SOCKET_TIMEOUT_MS", async () => {
    const { token, query } = await wideAnswers("Silent Socket Shop");
    await withServer(gw, { HTTP_SOCKET_TIMEOUT_MS: "1000", GRAPHQL_MAX_COST: WIDE_COST }, async (url) => {
      const socket = await unreadAnswer(url, "127.0.4.9", query, token);
      // Ten timeouts of silence: on a busy machine the answer itself may take seconds to build.
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      const { bytes, endedByServer } = await readUntilQuiet(socket);
      expect(endedByServer).toBe(true);
      expect(bytes).toBeLessThan(10_000_000); // cut off: the rest of the answer was dropped with the socket
    });
    record("a socket that asks for an 11 MB answer and stops reading", 1, "closed by the server after HTTP_SOCKET_TIMEOUT_MS of silence");
  });

  it("answers a renamed, re-spaced introspection from the answer computed once, without computing it again", async () => {
    await withServer(gw, {}, async (url) => {
      const standard = getIntrospectionQuery({ descriptions: true });
      expect((await graphql(url, standard)).status).toBe(200);
      const tasksBefore = await newDocumentTasks(url);
      const variants = Array.from(
        { length: 20 },
        (_, i) => `# variant ${i}\n${standard.replace("query IntrospectionQuery", `query Renamed${i}`).replaceAll("\n", "\n  ")}`,
      );
      const answers = await Promise.all(variants.map((variant) => graphql(url, variant)));
      expect(answers.map((a) => a.status)).toEqual(variants.map(() => 200));
      expect(answers.every((a) => a.body.data.__schema.types.length > 50)).toBe(true);
      // One task each in the line of new documents (its parse and validation), none computing an answer.
      expect((await newDocumentTasks(url)) - tasksBefore).toBe(20);
    });
    record(
      "20 parallel copies of the standard introspection, each renamed and re-spaced",
      20,
      "all 200 from the answer computed once (each parsed, none computed again)",
    );
  });

  it("computes introspection one document at a time, within the budget of new documents, and answers 503 BUSY beyond", async () => {
    await withServer(gw, { GRAPHQL_NEW_DOCUMENT_MS: "100", GRAPHQL_NEW_DOCUMENT_WAIT_MS: "300" }, async (url) => {
      // Distinct documents (an alias each), so that no cached answer serves them: each is computed.
      const distinct = (i: number) => getIntrospectionQuery({ descriptions: true }).replace("__schema {", `t${i}: __typename __schema {`);
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => graphql(url, distinct(i))));
      const busy = answers.filter((a) => a.status === 503);
      expect(busy.length).toBeGreaterThan(0);
      expect(busy.every((a) => a.body.errors?.[0]?.extensions?.code === "BUSY" && a.headers.get("retry-after") === "1")).toBe(true);
      expect(answers.filter((a) => a.status !== 503).every((a) => a.status === 200 && a.body.data?.__schema)).toBe(true);
      // An answer computed once is served from the cache, without waiting in the line of new documents.
      const served = answers.findIndex((a) => a.status === 200);
      expect(served).toBeGreaterThanOrEqual(0);
      const again = await Promise.all(Array.from({ length: 10 }, () => graphql(url, distinct(served))));
      expect(again.every((a) => a.status === 200)).toBe(true);
    });
    record(
      "12 distinct full introspection documents at once, with 100 ms of event loop a second for new documents and 300 ms of wait",
      12,
      "computed one at a time within the budget; the overflow 503 BUSY with Retry-After; a computed answer served again from the cache",
    );
  });

  it("answers introspection only where it is enabled", async () => {
    await withServer(gw, { GRAPHQL_INTROSPECTION: "false" }, async (url) => {
      const reads = [
        "{ __schema { queryType { name } } }",
        '{ t: __type(name: "Product") { fields { name } } }',
        '{ ... on Query { __type(name: "Mutation") { name } } }',
        'query Q { ...F } fragment F on Query { __type(name: "User") { name } }',
      ];
      for (const read of reads) {
        const res = await graphql(url, read);
        expect(res.status, read).toBe(400);
        expect(res.body.errors?.[0]?.extensions?.code, read).toBe("INTROSPECTION_DISABLED");
      }
      expect((await graphql(url, "{ tiers { totalCount } __typename }")).status).toBe(200);
    });
    record(
      "introspection against a server that disables it (GRAPHQL_INTROSPECTION=false, the production default): __schema, and __type aliased, in an inline fragment, in a fragment",
      4,
      "400 INTROSPECTION_DISABLED",
    );
  });
});

/** Room for the 12 pages of descriptions below (the default cost allows 4). */
const WIDE_COST = "150000";

/**
 * A tenant with 100 products of 9,000-character descriptions, and a query for 12 pages of them
 * (about 11 MB: more than the kernel's socket buffers hold, up to 4 MB sent and 4 MB received here).
 */
async function wideAnswers(name: string) {
  const shop = await signUp(gw.url, name, "standard");
  await gw.db.owner.query(`insert into client_${shop.tenant.id}.products (sku, title, price, description)
    select 'SKU-' || i, 'Item ' || i, 1, repeat('d', 9000) from generate_series(1, 100) i`);
  const query = `{ ${Array.from({ length: 12 }, (_, i) => `a${i}: products(first: 100, offset: ${i}) { nodes { description } }`).join(" ")} }`;
  return { token: shop.access_token as string, query };
}

/** A socket from `localAddress` that sends `query` and does not read the answer. */
function unreadAnswer(url: string, localAddress: string, query: string, token: string): Promise<net.Socket> {
  const body = JSON.stringify({ query });
  return new Promise((resolve) => {
    const socket = net.connect({ port: Number(new URL(url).port), host: "127.0.0.1", localAddress }, () => {
      socket.pause();
      socket.write(
        `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      resolve(socket);
    });
    socket.on("error", () => undefined);
  });
}

describe("/metrics", () => {
  it("keeps one series for every path nobody routes, so a scanner cannot grow memory", async () => {
    await Promise.all(Array.from({ length: 100 }, (_, i) => http(gw.url, "POST", `/api/auth/scan-${i}`, { body: {} })));
    await Promise.all(Array.from({ length: 50 }, (_, i) => http(gw.url, "GET", `/random/${i}/path`)));
    const families = parsePrometheus(await (await fetch(`${gw.url}/metrics`)).text());
    const routes = new Set(families.find((f) => f.name === "stoflow_http_requests_total")!.metrics.map((m) => m.labels!.route));
    expect([...routes].filter((r) => r.includes("scan") || r.includes("random"))).toEqual([]);
    expect(routes.has("unmatched")).toBe(true);
    record("150 requests to distinct unknown paths", 150, 'one "unmatched" series');
  });

  it("labels each REST route once, by its full pattern, however its handler answers", async () => {
    for (let i = 0; i < 5; i++) {
      await http(gw.url, "POST", "/api/auth/login", { body: { email: `label${i}@x.test`, password: "wrong password" } });
      await http(gw.url, "GET", "/api/auth/session");
      await http(gw.url, "POST", "/api/auth/refresh", { body: { refresh_token: "x" } });
    }
    const families = parsePrometheus(await (await fetch(`${gw.url}/metrics`)).text());
    const routes = new Set(families.find((f) => f.name === "stoflow_http_requests_total")!.metrics.map((m) => m.labels!.route));
    expect([...routes].filter((route) => /login|session|refresh/.test(route)).sort()).toEqual([
      "/api/auth/login",
      "/api/auth/refresh",
      "/api/auth/session",
    ]);
  });

  it("labels a route as declared whatever case the path was sent in, so case variants grow no series", async () => {
    const variants = [
      "/API/AUTH/login",
      "/Api/Auth/Login",
      "/api/AUTH/LOGIN",
      "/aPi/aUtH/lOgIn",
      "/API/auth/session",
      "/HEALTH",
      "/GraphQL",
    ];
    const isGet = (path: string) => path.endsWith("session") || path === "/HEALTH";
    await Promise.all(
      variants.flatMap((path) =>
        Array.from({ length: 3 }, (_, i) =>
          isGet(path)
            ? http(gw.url, "GET", path)
            : http(gw.url, "POST", path, { body: { email: `case${i}@x.test`, password: "wrong password" } }),
        ),
      ),
    );
    const families = parsePrometheus(await (await fetch(`${gw.url}/metrics`)).text());
    const routes = [...new Set(families.find((f) => f.name === "stoflow_http_requests_total")!.metrics.map((m) => m.labels!.route))];
    expect(routes.filter((route) => /[A-Z]/.test(route))).toEqual([]);
    expect(routes).toEqual(expect.arrayContaining(["/api/auth/login", "/api/auth/session"]));
    record(
      "21 requests to case variants of routed paths (/API/AUTH/login, /Api/Auth/Login, /HEALTH, /GraphQL…)",
      21,
      'each labelled by its route as declared (or "unmatched"): no series per variant',
    );
  });

  it("is not public in production: a token, or nothing", async () => {
    await withServer(gw, { NODE_ENV: "production" }, async (url) => {
      expect((await http(url, "GET", "/metrics")).status).toBe(404);
    });
    await withServer(gw, { NODE_ENV: "production", METRICS_TOKEN: "scrape-token-that-is-long-enough" }, async (url) => {
      expect((await fetch(`${url}/metrics`)).status).toBe(401);
      expect((await fetch(`${url}/metrics`, { headers: { authorization: "Bearer wrong-token" } })).status).toBe(401);
      const user = await signUp(url, "Metrics Snooper");
      expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${user.access_token}` } })).status).toBe(401);
      const scraped = await fetch(`${url}/metrics`, { headers: { authorization: "Bearer scrape-token-that-is-long-enough" } });
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toContain("stoflow_tenants");
    });
    record(
      "/metrics in production without a token, with a wrong one, with a user's access token",
      4,
      "404 without METRICS_TOKEN; 401 but for the metrics token",
    );
  });
});

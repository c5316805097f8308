import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type Gateway } from "../../src/server.ts";
import { removeOwnClusters, startOwnCluster } from "../helpers/embedded.ts";
import { graphqlOk, signUp, startTestGateway, configOver, type TestGateway } from "../helpers/gateway.ts";
import { closedWith, liveClient, type LiveClient } from "../helpers/live.ts";
import { until } from "../helpers/until.ts";

let gw: TestGateway;
let seller: Awaited<ReturnType<typeof signUp>>;
const clients: LiveClient[] = [];

beforeAll(async () => {
  gw = await startTestGateway({ LIVE_MERGE_MS: "20" });
  seller = await signUp(gw.url, "Live Faults", "standard");
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await gw.close();
});

const PRODUCTS = "subscription { productChanged { event sku sequence } }";
const createAt = (url: string, token: string, sku: string) =>
  graphqlOk(
    url,
    `mutation($sku: String!) { createProduct(input: { product: { sku: $sku, title: "Coat", price: "5.00" } }) { product { sku } } }`,
    { sku },
    token,
  );
const create = (sku: string) => createAt(gw.url, seller.access_token, sku);
const follow = async (url: string, token = seller.access_token) => {
  const client = liveClient(url, token);
  clients.push(client);
  await client.follow("products", PRODUCTS);
  await new Promise((resolve) => setTimeout(resolve, 150));
  return client;
};
const changes = (client: LiveClient) =>
  client.events
    .get("products")!
    .map((e) => (e.data as { productChanged: { event: string; sku: string | null; sequence: number } }).productChanged);

/** As a superuser (who sees every session's query and may end it). */
async function asSuperuser<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: gw.db.superuserUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The backend pid of the gateway's LISTEN connection. */
async function listenerPid(): Promise<number> {
  let pid: number | undefined;
  await until("the LISTEN connection", async () => {
    const { rows } = await asSuperuser((client) =>
      client.query<{ pid: number }>(
        "select pid from pg_stat_activity where datname = current_database() and application_name = 'stoflow listen'",
      ),
    );
    pid = rows[0]?.pid;
    return pid !== undefined;
  });
  return pid!;
}

describe("the LISTEN connection", () => {
  it("killed mid-stream: every subscriber gets RESYNC once it listens again, and later events arrive", async () => {
    const client = await follow(gw.url);
    await create("BEFORE");
    await client.received("products", 1);
    const first = await listenerPid();
    await asSuperuser((client) => client.query("select pg_terminate_backend($1)", [first]));
    await create("LOST"); // while nobody listens: lost, which RESYNC tells
    await until("a new LISTEN connection", async () => (await listenerPid()) !== first, 10_000);
    await client.received("products", 2);
    await create("AFTER");
    await until("the event after", () => changes(client).some((c) => c.sku === "AFTER"), 10_000);
    const seen = changes(client);
    expect(seen[0]).toEqual({ event: "CREATED", sku: "BEFORE", sequence: 1 });
    expect(seen).toContainEqual(expect.objectContaining({ event: "RESYNC", sku: null }));
    expect(seen.map((c) => c.sequence)).toEqual(seen.map((_, i) => i + 1));
    const metrics = await (await fetch(`${gw.probeUrl}/metrics`)).text();
    expect(metrics).toMatch(/^stoflow_live_listening 1$/m);
    expect(metrics).toMatch(/^stoflow_live_events\{kind="resyncs"\} 1$/m);
    expect(metrics).toMatch(/^stoflow_live_subscriptions 1$/m);
  });
});

describe("two gateway processes", () => {
  it("over one database, each delivers every event to its own subscribers; a gateway stopped closes its sockets, another serves them", async () => {
    const other: Gateway = await startGateway(gw.db.appUrl, configOver(gw.db, { LIVE_MERGE_MS: "20" }));
    try {
      const [here, there] = await Promise.all([follow(gw.url), follow(other.url)]);
      await create("BOTH-1");
      for (const client of [here, there]) {
        await until("the event on both", () => changes(client).some((c) => c.sku === "BOTH-1"), 10_000);
      }
      await other.close();
      expect((await closedWith(there, 15_000)).code).toBeGreaterThanOrEqual(1000);
      const again = await follow(gw.url);
      await create("BOTH-2");
      await until("the event after the restart", () => changes(again).some((c) => c.sku === "BOTH-2"), 10_000);
    } finally {
      await other.close();
    }
  });
});

describe("the database restarted", () => {
  it(
    "after a crash (unlogged tables emptied, every connection lost), subscribers stay connected, get RESYNC, and receive what is written after",
    { timeout: 120_000 },
    async () => {
      const cluster = await startOwnCluster();
      const gateway = await startGateway(cluster.database.appUrl, configOver(cluster.database, { LIVE_MERGE_MS: "20" }));
      try {
        const shop = await signUp(gateway.url, "Restarted Shop", "standard");
        const client = await follow(gateway.url, shop.access_token);
        await createAt(gateway.url, shop.access_token, "BEFORE");
        await client.received("products", 1);
        // pg_ctl stop -m immediate: backends quit at once; the next start recovers and empties
        // app_private.live_listeners (unlogged), so writers notify again only once the gateway says it listens.
        await cluster.stop("immediate");
        await cluster.start();
        await until("RESYNC", () => changes(client).some((c) => c.event === "RESYNC"), 30_000);
        await until(
          "a write accepted again",
          () =>
            createAt(gateway.url, shop.access_token, "AFTER").then(
              () => true,
              () => false,
            ),
          30_000,
        );
        await until("the event written after the restart", () => changes(client).some((c) => c.sku === "AFTER"), 10_000);
        expect(client.closed).toBeUndefined();
        const seen = changes(client);
        expect(seen.map((c) => c.sequence)).toEqual(seen.map((_, i) => i + 1));
      } finally {
        await gateway.close();
        await cluster.database.stop();
        await removeOwnClusters();
      }
    },
  );
});

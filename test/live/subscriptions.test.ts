import net from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphqlOk, signUp, startTestGateway, withServer, type TestGateway } from "../helpers/gateway.ts";
import { liveClient, type LiveClient } from "../helpers/live.ts";
import { until } from "../helpers/until.ts";

let gw: TestGateway;
let a: Awaited<ReturnType<typeof signUp>>;
let b: Awaited<ReturnType<typeof signUp>>;
const clients: LiveClient[] = [];

beforeAll(async () => {
  gw = await startTestGateway({ LIVE_MERGE_MS: "50", LIVE_POOL_SIZE: "1" });
  a = await signUp(gw.url, "Live A", "standard");
  b = await signUp(gw.url, "Live B", "standard");
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await gw.close();
});

const open = (token: string) => {
  const client = liveClient(gw.url, token);
  clients.push(client);
  return client;
};

const PRODUCTS = "subscription { productChanged { event sku sequence product { sku title price } } }";
const CREATE = `mutation($sku: String!) { createProduct(input: { product: { sku: $sku, title: "Jacket", price: "10.00" } }) { product { sku } } }`;
const UPDATE = `mutation($sku: String!) { updateProduct(input: { sku: $sku, patch: { title: "Jacket, worn" } }) { product { sku } } }`;
const DELETE = `mutation($sku: String!) { deleteProduct(input: { sku: $sku }) { product { sku } } }`;

describe("productChanged", () => {
  it("delivers the tenant's own creations, changes and deletions, the row read at delivery, and nothing of another tenant", async () => {
    expect(gw.deliveryPool.totalCount).toBe(0);
    const mine = open(a.access_token);
    const theirs = open(b.access_token);
    await mine.follow("products", PRODUCTS);
    await theirs.follow("products", PRODUCTS);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await graphqlOk(gw.url, CREATE, { sku: "LIVE-1" }, a.access_token);
    const [created] = await mine.received("products", 1);
    expect(created).toEqual({
      data: {
        productChanged: { event: "CREATED", sku: "LIVE-1", sequence: 1, product: { sku: "LIVE-1", title: "Jacket", price: "10.00" } },
      },
    });
    await graphqlOk(gw.url, UPDATE, { sku: "LIVE-1" }, a.access_token);
    await mine.received("products", 2);
    await graphqlOk(gw.url, DELETE, { sku: "LIVE-1" }, a.access_token);
    const events = await mine.received("products", 3);
    expect(events.map((e) => (e.data as { productChanged: unknown }).productChanged)).toEqual([
      expect.objectContaining({ event: "CREATED", sequence: 1 }),
      { event: "UPDATED", sku: "LIVE-1", sequence: 2, product: { sku: "LIVE-1", title: "Jacket, worn", price: "10.00" } },
      { event: "DELETED", sku: "LIVE-1", sequence: 3, product: null },
    ]);
    expect(theirs.events.get("products")).toEqual([]);
    // The rows were read on the deliveries' own connections, not the request pool's.
    expect(gw.deliveryPool.totalCount).toBeGreaterThan(0);
  });
});

/** The tenant a token is for (its claims, unverified). */
const tenantOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()) as { tenant_id: number }).tenant_id;

/** A LISTEN connection of the test's own on stoflow_live: the notifications writers send. */
async function overhear(url: string): Promise<{ heard: Array<{ t: number; id: string }>; stop(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const heard: Array<{ t: number; id: string }> = [];
  client.on("notification", (message) => heard.push(JSON.parse(message.payload!) as { t: number; id: string }));
  await client.query("listen stoflow_live");
  return { heard, stop: () => client.end() };
}

describe("writers of tenants nobody subscribes to", () => {
  it("send no notification; a tenant's writers notify from its first subscription's start, and not for a gateway gone (rows not renewed for two minutes)", async () => {
    const [c, d] = [await signUp(gw.url, "Live C", "standard"), await signUp(gw.url, "Live D", "standard")];
    const wire = await overhear(gw.db.jobsUrl);
    try {
      await graphqlOk(gw.url, CREATE, { sku: "QUIET-D" }, d.access_token); // nobody follows D
      const mine = open(c.access_token);
      await mine.follow("quiet", PRODUCTS);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await graphqlOk(gw.url, CREATE, { sku: "HEARD-C" }, c.access_token);
      await mine.received("quiet", 1);
      expect(wire.heard).toEqual([expect.objectContaining({ t: tenantOf(c.access_token), id: "HEARD-C" })]);

      // A gateway gone (its rows not renewed for two minutes) costs writers nothing either.
      await gw.db.owner.query("update app_private.live_listeners set renewed_at = now() - interval '3 minutes'");
      await graphqlOk(gw.url, CREATE, { sku: "STALE-C" }, c.access_token);
      await until(
        "the change published (dropped)",
        async () => (await gw.db.owner.query("select count(*)::int as n from app_private.live_outbox")).rows[0].n === 0,
      );
      await gw.db.owner.query("update app_private.live_listeners set renewed_at = now()");
      await graphqlOk(gw.url, CREATE, { sku: "AGAIN-C" }, c.access_token);
      await mine.received("quiet", 2);
      expect(wire.heard.map((notice) => notice.id)).toEqual(["HEARD-C", "AGAIN-C"]);
    } finally {
      await wire.stop();
    }
  });

  it("a gateway that stops tells the database it listens for nothing any more", async () => {
    const d = await signUp(gw.url, "Live E", "standard");
    const listenersOf = async (tenant: number) =>
      (await gw.db.owner.query<{ n: number }>("select count(*)::int as n from app_private.live_listeners where tenant_id = $1", [tenant]))
        .rows[0].n;
    const tenant = tenantOf(d.access_token);
    await withServer(gw, {}, async (url) => {
      const client = liveClient(url, d.access_token);
      await client.follow("products", PRODUCTS);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await listenersOf(tenant)).toBe(1);
      await client.dispose();
    });
    expect(await listenersOf(tenant)).toBe(0);
  });

  it("the listeners table and its function are the gateway's alone: a tenant's role reads and calls neither", async () => {
    const asUser = async (sql: string) => {
      const client = await gw.db.app.connect();
      try {
        await client.query("begin; set local role stoflow_user");
        return await client.query(sql).then(
          () => "allowed",
          (error: { code?: string }) => error.code,
        );
      } finally {
        await client.query("rollback");
        client.release();
      }
    };
    expect(await asUser("select * from app_private.live_listeners")).toBe("42501");
    expect(await asUser("select app_private.live_listen('forged', array[1, 2, 3])")).toBe("42501");
    // Nor the outbox of queued changes: no forged event queued, none read, none published early.
    expect(await asUser("select * from app_private.live_outbox")).toBe("42501");
    expect(await asUser("insert into app_private.live_outbox (tenant_id, kind, op, key) values (1, 'product', 'DELETE', 'X')")).toBe(
      "42501",
    );
    expect(await asUser("select app_private.publish_live_changes(10)")).toBe("42501");
  });

  it("queue each changed row's key from every live table (sku or id), its tenant and kind, nothing else", async () => {
    const seller = await signUp(gw.url, "Live Keys", "standard");
    const tenant = tenantOf(seller.access_token);
    const schema = `client_${tenant}`;
    const holder = await gw.db.owner.connect();
    try {
      // The publishers held off, so the queue keeps what the writes appended.
      await holder.query("begin; select pg_advisory_xact_lock(hashtext('app_private.live_outbox'))");
      const owner = gw.db.owner;
      await owner.query(`insert into ${schema}.products (sku, title, price) values ('K-1', 'Coat', 5)`);
      await owner.query(`insert into ${schema}.vinted_products (sku) values ('K-1')`);
      const ai = await owner.query<{ id: number }>(
        `insert into ${schema}.ai_generations_log (sku, platform, model, generated_text) values ('K-1', 'vinted', 'm', 'A coat') returning id`,
      );
      const publication = await owner.query<{ id: number }>(
        `insert into ${schema}.publications_history (sku, platform, action) values ('K-1', 'vinted', 'create') returning id`,
      );
      await owner.query(`update ${schema}.publications_history set status = 'success' where id = $1`, [publication.rows[0].id]);
      await owner.query(`delete from ${schema}.products where sku = 'K-1'`);
      const queued = await owner.query("select kind, op, key from app_private.live_outbox where tenant_id = $1 order by id", [tenant]);
      expect(queued.rows.slice(0, 5)).toEqual([
        { kind: "product", op: "INSERT", key: "K-1" },
        { kind: "vinted_product", op: "INSERT", key: "K-1" },
        { kind: "ai_generation", op: "INSERT", key: String(ai.rows[0].id) },
        { kind: "publication", op: "INSERT", key: String(publication.rows[0].id) },
        { kind: "publication", op: "UPDATE", key: String(publication.rows[0].id) },
      ]);
      expect(queued.rows.slice(5)).toContainEqual({ kind: "product", op: "DELETE", key: "K-1" }); // with what the delete cascaded to
    } finally {
      await holder.query("rollback");
      holder.release();
    }
  });

  it("queue their changes while the database refuses to publish them, and every one is delivered, in order, once it does", async () => {
    const seller = await signUp(gw.url, "Live Outbox", "standard");
    const mine = open(seller.access_token);
    await mine.follow("outbox", PRODUCTS);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Every gateway's publisher is held off (another holds the publishing lock) while three changes queue.
    const holder = await gw.db.owner.connect();
    try {
      await holder.query("begin; select pg_advisory_xact_lock(hashtext('app_private.live_outbox'))");
      for (const sku of ["Q-1", "Q-2", "Q-3"]) await graphqlOk(gw.url, CREATE, { sku }, seller.access_token);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(mine.events.get("outbox") ?? []).toEqual([]);
      expect((await gw.db.owner.query("select count(*)::int as n from app_private.live_outbox")).rows[0].n).toBeGreaterThanOrEqual(3);
    } finally {
      await holder.query("rollback");
      holder.release();
    }
    await mine.received("outbox", 3);
    const skus = (mine.events.get("outbox") ?? []).map((e) => (e.data as { productChanged: { sku: string } }).productChanged.sku);
    expect(skus).toEqual(["Q-1", "Q-2", "Q-3"]);
  });
});

describe("sockets that never sign in", () => {
  it("are destroyed soon after LIVE_CONNECT_TIMEOUT_MS even when the client never answers the close frame", async () => {
    await withServer(gw, { LIVE_CONNECT_TIMEOUT_MS: "300" }, async (url) => {
      const { port } = new URL(url);
      const opened = Date.now();
      const lived = await new Promise<number>((resolve, reject) => {
        const socket = net.connect({ port: Number(port), host: "127.0.0.1" }, () =>
          socket.write(
            "GET /graphql HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n",
          ),
        );
        socket.on("data", () => {}); // reads the 101 and the close frame, answers nothing
        socket.once("close", () => resolve(Date.now() - opened));
        socket.once("error", reject);
      });
      // graphql-ws closes it at 300 ms; ws alone would wait 30 s for the client's answer.
      expect(lived).toBeLessThan(3_000);
    });
  });
});

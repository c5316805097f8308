import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphqlOk, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { liveClient, type LiveClient } from "../helpers/live.ts";

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

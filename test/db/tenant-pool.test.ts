import type pg from "pg";
import parsePrometheus from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tenantGroup } from "../../src/db/tenant-pool.ts";
import { startGateway } from "../../src/server.ts";
import { until } from "../helpers/until.ts";
import { configOver, graphql, graphqlOk, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

/*
 * A pool of 4 in 2 groups of 2 (DATABASE_POOL_GROUPS). Which backend served a request is seen
 * from SQL: the pid of the connection the pool handed out, and its application_name in
 * pg_stat_activity ("stoflow group <g>/2", set by the group's pool).
 */
let gw: TestGateway;
const shops: { token: string; tenantId: number; group: number; sku: string }[] = [];
beforeAll(async () => {
  gw = await startTestGateway({ DATABASE_POOL_SIZE: "4", DATABASE_POOL_GROUPS: "2", DATABASE_CONNECT_TIMEOUT: "5" });
  // Two tenants of each group, each with a product of its own.
  while (shops.filter((s) => s.group === 0).length < 2 || shops.filter((s) => s.group === 1).length < 2) {
    const { access_token: token } = await signUp(gw.url);
    const tenantId = (JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()) as { tenant_id: number }).tenant_id;
    const group = tenantGroup(String(tenantId), 2);
    if (shops.filter((s) => s.group === group).length === 2) continue;
    const sku = `SKU-${tenantId}`;
    await graphqlOk(
      gw.url,
      `mutation { createProduct(input: { product: { sku: "${sku}", title: "T", price: "1" } }) { product { sku } } }`,
      {},
      token,
    );
    shops.push({ token, tenantId, group, sku });
  }
});
afterAll(() => gw.close());

const [A, B] = [() => shops.find((s) => s.group === 0)!, () => shops.find((s) => s.group === 1)!];

/** A tenant's read, with the pids of the backends the pool handed out while it ran; its SKUs. */
async function readAs(shop: { token: string }): Promise<{ status: number; skus: string[]; pids: number[] }> {
  const pids: number[] = [];
  const note = (client: pg.PoolClient) => pids.push((client as unknown as { processID: number }).processID);
  gw.pool.on("acquire", note);
  try {
    const res = await graphql<{ products: { nodes: { sku: string }[] } }>(gw.url, "{ products { nodes { sku } } }", {}, shop.token);
    return { status: res.status, skus: res.body.data?.products.nodes.map((n) => n.sku) ?? [], pids };
  } finally {
    gw.pool.off("acquire", note);
  }
}

/** The group of a backend, from its application_name in pg_stat_activity. */
async function groupOfBackend(pid: number): Promise<number> {
  const { rows } = await gw.db.owner.query<{ name: string }>("select application_name as name from pg_stat_activity where pid = $1", [pid]);
  const group = /^stoflow group (\d+)\/2$/.exec(rows[0]?.name ?? "")?.[1];
  if (group === undefined) throw new Error(`backend ${pid} is no connection of the server's pool (${rows[0]?.name})`);
  return Number(group);
}

async function borrowedCount(): Promise<number> {
  const families = parsePrometheus(await (await fetch(`${gw.url}/metrics`)).text());
  return Number(families.find((f) => f.name === "stoflow_db_pool_borrowed_total")?.metrics[0]?.value);
}

/** Checks out a connection of each of `groups` (a group named twice: two), runs `work`, gives them back. */
async function holding<T>(groups: number[], work: () => Promise<T>): Promise<T> {
  const held = await Promise.all(groups.map((g) => gw.pool.connectTo(g)));
  try {
    return await work();
  } finally {
    for (const client of held) client.release();
  }
}

// Through PgBouncer (npm run test:pgbouncer) a client's pid is PgBouncer's, not a backend's: there,
// each group's connections go to an entry of their own, which is what is checked.
const direct = !process.env.TEST_PGBOUNCER_URL;

describe.runIf(!direct)("tenant-affine connections through PgBouncer", () => {
  it("connects each group to its own PgBouncer entry, and serves every tenant through it", async () => {
    const names = gw.pool.groups.map(
      (group) => new URL((group as unknown as { options: { connectionString: string } }).options.connectionString).pathname,
    );
    expect(names).toEqual([`/${gw.db.name}_g0`, `/${gw.db.name}_g1`]);
    for (const shop of shops) expect(await readAs(shop)).toMatchObject({ status: 200, skus: [shop.sku] });
  });
});

describe.runIf(direct)("tenant-affine connections (DATABASE_POOL_GROUPS)", () => {
  it("serves each tenant on backends of its own group, request after request", async () => {
    for (const shop of shops) {
      for (let i = 0; i < 5; i++) {
        const read = await readAs(shop);
        expect(read).toMatchObject({ status: 200, skus: [shop.sku] });
        expect(read.pids).toHaveLength(1);
        expect(await groupOfBackend(read.pids[0])).toBe(shop.group);
      }
    }
  });

  it("borrows a free connection of another group at once when its own are all busy, and counts it in /metrics", async () => {
    const before = await borrowedCount();
    const read = await holding([0, 0], async () => {
      const started = performance.now();
      const answer = await readAs(A());
      return { ...answer, ms: performance.now() - started };
    });
    expect(read).toMatchObject({ status: 200, skus: [A().sku] });
    expect(await groupOfBackend(read.pids[0])).toBe(1);
    expect(read.ms).toBeLessThan(2_000); // it waited for no connection (a wait ends at DATABASE_CONNECT_TIMEOUT, 5 s, with 503)
    expect(await borrowedCount()).toBe(before + 1);
  });

  it("gives a connection of another group, once released, to a request waiting while every connection was busy", async () => {
    const held = await Promise.all([0, 0, 1, 1].map((g) => gw.pool.connectTo(g)));
    const waiting = readAs(A());
    await new Promise((resolve) => setTimeout(resolve, 200));
    const released = (held[2] as unknown as { processID: number }).processID;
    held[2].release();
    const read = await waiting;
    for (const client of [held[0], held[1], held[3]]) client.release();
    expect(read).toMatchObject({ status: 200, skus: [A().sku] });
    expect(read.pids).toEqual([released]);
  });

  it("gives the next released connection to a request that waited DATABASE_POOL_BORROW_WAIT_MS (20) longer than that group's own", async () => {
    const held = await Promise.all([0, 0, 1, 1].map((g) => gw.pool.connectTo(g)));
    const [released, next] = [held[2], held[3]].map((client) => (client as unknown as { processID: number }).processID);
    const waitingA = readAs(A());
    await new Promise((resolve) => setTimeout(resolve, 200));
    const waitingB = readAs(B()); // group 1's own, but newer
    await new Promise((resolve) => setTimeout(resolve, 50));
    held[2].release();
    const a = await waitingA;
    held[3].release();
    const b = await waitingB;
    for (const client of [held[0], held[1]]) client.release();
    // The reads overlap: B's connection is handed out while A's answer is on its way, so A's window sees it too.
    expect(a).toMatchObject({ status: 200, skus: [A().sku] });
    expect(a.pids[0]).toBe(released);
    expect(b).toMatchObject({ status: 200, skus: [B().sku] });
    expect([released, next]).toContain(b.pids[0]);
  });

  it("replaces a connection once it served DATABASE_POOL_BORROWED_USES transactions of other groups' tenants", async () => {
    const other = await startGateway(
      gw.db.appUrl,
      configOver(gw.db, { DATABASE_POOL_SIZE: "4", DATABASE_POOL_GROUPS: "2", DATABASE_POOL_BORROWED_USES: "2" }),
    );
    try {
      const removed: number[] = [];
      other.pool.on("remove", (client: pg.PoolClient) => removed.push((client as unknown as { processID: number }).processID));
      const held = await Promise.all([0, 0].map((g) => other.pool.connectTo(g)));
      const lent = await other.pool.connectTo(1); // group 1's one connection, lent twice to group 0's tenants
      const pid = (lent as unknown as { processID: number }).processID;
      lent.release();
      const uses = [];
      for (let i = 0; i < 2; i++) {
        const client = await other.pool.connectTo(0);
        uses.push((client as unknown as { processID: number }).processID);
        client.release();
      }
      for (const client of held) client.release();
      expect(uses).toEqual([pid, pid]);
      await until("the worn connection closed", () => removed.length > 0, 5_000); // pg-pool says so once it has ended
      expect(removed).toEqual([pid]);
      expect(other.pool.borrowed).toBe(2);
    } finally {
      await other.close();
    }
  });

  it("keeps tenants apart on a borrowed connection: the settings are the transaction's, and gone after it", async () => {
    // Group 1 keeps one free connection: B's read, then A's (borrowed) both run on it.
    const [b, a, after] = await holding([0, 0, 1], async () => {
      const readB = await readAs(B());
      const readA = await readAs(A());
      const client = await gw.pool.connectTo(1);
      try {
        const { rows } = await client.query<{ tenant: string | null; pid: number }>(
          "select nullif(current_setting('jwt.claims.tenant_id', true), '') as tenant, pg_backend_pid() as pid",
        );
        return [readB, readA, rows[0]];
      } finally {
        client.release();
      }
    });
    expect(a.pids).toEqual(b.pids);
    expect(b).toMatchObject({ status: 200, skus: [B().sku] });
    expect(a).toMatchObject({ status: 200, skus: [A().sku] });
    expect(after).toEqual({ tenant: null, pid: b.pids[0] });
  });
});

import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventEmitter } from "node:events";
import { ADAPTOR_BEGIN, assertAdaptorOpening, openTransactionsInOneRoundTrip } from "../../src/db/patches/transaction-opening.ts";
import { graphql, http, signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { until } from "../helpers/until.ts";
import jwt from "jsonwebtoken";
import { tenantGroup } from "../../src/db/tenant-pool.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw.close());

interface Wire {
  /** Round trips: each ends with PostgreSQL's ReadyForQuery. */
  roundTrips: number;
  /** The statements as sent (simple queries and parsed ones). */
  sent: string[];
}

let wire: Wire | undefined;
const watched = new WeakSet<object>();

/** Counts and records what a connection sends while a `wire` is being watched. */
function watch(client: pg.PoolClient): void {
  const connection = (client as unknown as { connection: Record<string, (arg: unknown) => unknown> & NodeJS.EventEmitter }).connection;
  if (watched.has(connection)) return;
  watched.add(connection);
  connection.on("readyForQuery", () => wire && wire.roundTrips++);
  for (const method of ["query", "parse"] as const) {
    const send = connection[method].bind(connection);
    connection[method] = (arg: unknown) => {
      wire?.sent.push(typeof arg === "string" ? arg : (arg as { text: string }).text);
      return send(arg);
    };
  }
}

/** What the pool's connections send to PostgreSQL while `work` runs. */
async function onTheWire(pool: pg.Pool, work: () => Promise<unknown>): Promise<Wire> {
  const watching: Wire = { roundTrips: 0, sent: [] };
  wire = watching;
  pool.on("acquire", watch);
  try {
    await work();
  } finally {
    wire = undefined;
    pool.off("acquire", watch);
  }
  return watching;
}

/** A token of another tenant whose transactions take the same connections (pool group) as `token`'s. */
async function sameGroupAs(token: string): Promise<string> {
  const pool = gw.pool;
  const groupOf = (t: string) => tenantGroup(String((jwt.decode(t) as { tenant_id: number }).tenant_id), pool.groups.length);
  for (;;) {
    const other = (await signUp(gw.url)).access_token;
    if (groupOf(other) === groupOf(token)) return other;
  }
}
const read = (token: string) => graphql(gw.url, "{ products(first: 1) { nodes { sku } } }", {}, token);
/** The opening of a signed-in admin's transaction, with `check` (a function of app_private) as its session check. */
const opening = (check: string) =>
  new RegExp(
    `^begin; select set_config\\('stoflow\\.billing', 'immediate', true\\), set_config\\('stoflow\\.trial_days', '14', true\\), set_config\\('role', 'stoflow_admin', true\\), .*set_config\\('jwt\\.claims\\.session_id', '[0-9a-f-]{36}', true\\).*; select app_private\\.${check}\\(\\); select app_private\\.enter_tenant_schema\\(\\)$`,
  );

describe("a GraphQL request's transaction opens with its session check in one round trip", () => {
  it("sends BEGIN, the settings and the session check as one query: opening, query, commit", async () => {
    const { access_token } = await signUp(gw.url);
    await read(await sameGroupAs(access_token)); // the first use of a connection sets it up
    const wire = await onTheWire(gw.pool, async () =>
      expect((await read(access_token)).body).toEqual({ data: { products: { nodes: [] } } }),
    );
    expect(wire.roundTrips, wire.sent.join("\n")).toBe(3);
    expect(wire.sent[0]).toMatch(opening("require_live_session"));
    expect(wire.sent.at(-1)).toBe("commit");
  });

  it("opens a session it saw live with the tenant's check alone (SESSION_LIVENESS_WINDOW_MS): still one round trip", async () => {
    const { access_token } = await signUp(gw.url);
    let sent: string[] = [];
    await until("the session trusted", async () => {
      const wire = await onTheWire(gw.pool, () => read(access_token));
      sent = wire.sent;
      return wire.roundTrips === 3 && opening("require_tenant_available").test(wire.sent[0]);
    });
    expect(sent.at(-1)).toBe("commit");
  });

  it("runs a request's mutation fields in one transaction: opening, one statement per field, commit", async () => {
    const { access_token } = await signUp(gw.url);
    const create = (alias: string) =>
      `${alias}: createProduct(input: { product: { sku: "${alias}", title: "T", price: "1" } }) { product { sku } }`;
    await graphql(gw.url, "{ products(first: 1) { nodes { sku } } }", {}, access_token); // the first use of a connection sets it up
    const wire = await onTheWire(gw.pool, async () =>
      expect((await graphql(gw.url, `mutation { ${create("W1")} ${create("W2")} }`, {}, access_token)).body.errors).toBeUndefined(),
    );
    expect(wire.roundTrips, wire.sent.join("\n")).toBe(4);
    expect(wire.sent[0]).toMatch(opening("require_(live_session|tenant_available)"));
    expect(wire.sent.filter((text) => /^(begin|savepoint|commit|release)/.test(text))).toEqual([wire.sent[0], "commit"]);
  });

  it("refuses a session that ended in that same round trip: 401 INVALID_TOKEN, no data", async () => {
    const session = await signUp(gw.url);
    await graphql(gw.url, "{ products(first: 1) { nodes { sku } } }", {}, session.access_token); // sets up a connection of its tenant's group
    expect((await http(gw.url, "POST", "/api/auth/logout", { token: session.access_token })).status).toBe(204);
    const wire = await onTheWire(gw.pool, async () =>
      expect(await graphql(gw.url, "{ products(first: 1) { nodes { sku } } }", {}, session.access_token)).toMatchObject({
        status: 401,
        body: { errors: [{ message: "Session ended or account inactive", extensions: { code: "INVALID_TOKEN" } }] },
      }),
    );
    expect(wire.roundTrips).toBe(2); // the opening that failed, and its rollback
  });

  it("sends a held begin first, unchanged, when something else follows it", async () => {
    const sent: unknown[] = [];
    const pool = new EventEmitter() as unknown as pg.Pool;
    const client = { query: (config: unknown) => Promise.resolve(void sent.push(config)) } as unknown as pg.PoolClient;
    await openTransactionsInOneRoundTrip(pool);
    pool.emit("connect", client);
    await client.query({ text: ADAPTOR_BEGIN } as pg.QueryConfig);
    expect(sent).toEqual([]);
    await client.query({ text: "select 1" } as pg.QueryConfig);
    expect(sent).toEqual(["begin", { text: "select 1" }]);
  });

  it("checks that @dataplan/pg's adaptor still opens transactions with the texts it merges", async () => {
    await expect(assertAdaptorOpening()).resolves.toBeUndefined();
  });
});

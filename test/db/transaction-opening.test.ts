import pg from "pg";
import { OperationTypeNode } from "postgraphile/graphql";
import { verifyAccessToken } from "../../src/auth/tokens.ts";
import { pgSettingsFor, pgSettingsOf } from "../../src/graphql/context.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventEmitter } from "node:events";
import {
  ADAPTOR_BEGIN,
  ADAPTOR_COMMIT,
  ADAPTOR_SETTINGS,
  assertAdaptorOpening,
  openTransactionsInOneRoundTrip,
} from "../../src/db/patches/transaction-opening.ts";
import { openingStatement, READ_ONLY_SETTING } from "../../src/db/transaction.ts";
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
  /** Round trips: the connection's writes to the socket, each waiting for its answers (one write may carry several queries). */
  roundTrips: number;
  /** Queries answered: each answer ends with PostgreSQL's ReadyForQuery. */
  answered: number;
  /** The statements as sent: simple queries, and each prepared statement as it is bound (run). */
  sent: string[];
}

let wire: Wire | undefined;
const watched = new WeakSet<object>();

type Connection = NodeJS.EventEmitter & {
  stream: Record<"_write" | "_writev", (...args: unknown[]) => unknown>;
  parsedStatements: Record<string, string>;
  submittedNamedStatements: Record<string, string>;
} & Record<"query" | "parse" | "bind", (arg: never) => unknown>;

/** Counts and records what a connection sends while a `wire` is being watched. */
function watch(client: pg.PoolClient): void {
  const connection = (client as unknown as { connection: Connection }).connection;
  if (watched.has(connection)) return;
  watched.add(connection);
  connection.on("readyForQuery", () => wire && wire.answered++);
  for (const method of ["_write", "_writev"] as const) {
    const write = connection.stream[method].bind(connection.stream);
    connection.stream[method] = (...args: unknown[]) => {
      if (wire) wire.roundTrips++;
      return write(...args);
    };
  }
  const { query, parse, bind } = {
    query: connection.query.bind(connection),
    parse: connection.parse.bind(connection),
    bind: connection.bind.bind(connection),
  };
  let lastParsed = "";
  connection.query = (text: string) => {
    wire?.sent.push(text);
    return query(text as never);
  };
  connection.parse = (arg: { text: string }) => {
    lastParsed = arg.text;
    return parse(arg as never);
  };
  connection.bind = (arg: { statement?: string }) => {
    const named = arg.statement && (connection.parsedStatements[arg.statement] ?? connection.submittedNamedStatements[arg.statement]);
    wire?.sent.push(named || lastParsed);
    return bind(arg as never);
  };
}

/** A stand-in connection of a patched pool, recording what it sends and whether its socket was corked then. */
async function patchedConnection() {
  const sent: Array<[unknown, "corked" | "alone"]> = [];
  let corks = 0;
  const stream = { cork: () => corks++, uncork: () => corks-- };
  const client = {
    connection: { stream },
    query: (config: unknown) => Promise.resolve(void sent.push([config, corks > 0 ? "corked" : "alone"])),
  } as unknown as pg.PoolClient;
  const pool = new EventEmitter() as unknown as pg.Pool;
  await openTransactionsInOneRoundTrip(pool);
  pool.emit("connect", client);
  return { pool, client, sent };
}

/** What the pool's connections send to PostgreSQL while `work` runs. */
async function onTheWire(pool: pg.Pool, work: (watching: Wire) => Promise<unknown>): Promise<Wire> {
  const watching: Wire = { roundTrips: 0, answered: 0, sent: [] };
  wire = watching;
  pool.on("acquire", watch);
  try {
    await work(watching);
  } finally {
    wire = undefined;
    pool.off("acquire", watch);
  }
  return watching;
}

type InFlight = { _activeQuery: unknown; _sentQueryQueue: unknown[]; _queryQueue: unknown[] };

/**
 * Until every connection of the gateway's pool has its answers in. A read's `commit` is written
 * after the read is answered (held), so a watch started right after a read could count its answer.
 */
async function settled(): Promise<void> {
  const clients = () => gw.pool.groups.flatMap((group) => (group as unknown as { _clients: InFlight[] })._clients);
  await until("every connection answered", () =>
    clients().every((client) => !client._activeQuery && client._sentQueryQueue.length === 0 && client._queryQueue.length === 0),
  );
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
/** The opening of a signed-in admin's transaction: its settings, then the session check (`knownLive`: the tenant's alone). */
const opening = (knownLive: string) =>
  new RegExp(
    `^begin; select app_private\\.open_transaction\\('\\[\\["stoflow\\.billing","immediate"\\],\\["stoflow\\.trial_days","14"\\],\\["role","stoflow_admin"\\],.*\\["jwt\\.claims\\.session_id","[0-9a-f-]{36}"\\].*\\]', ${knownLive}\\)$`,
  );

describe("a GraphQL request's transaction opens with its session check, in the same write as its first statement", () => {
  it("sends BEGIN, the settings and the session check as one query, with the read: 2 round trips, 3 queries, read only", async () => {
    const { access_token } = await signUp(gw.url);
    await read(await sameGroupAs(access_token)); // the first use of a connection sets it up
    await settled();
    const wire = await onTheWire(gw.pool, async (watching) => {
      expect((await read(access_token)).body).toEqual({ data: { products: { nodes: [] } } });
      await until("the read's commit answered", () => watching.answered === 3); // written after the answer (held commit)
    });
    expect(wire.roundTrips, wire.sent.join("\n")).toBe(2);
    expect(wire.answered).toBe(3);
    expect(wire.sent[0]).toMatch(opening("false"));
    expect(wire.sent[0]).toContain('["transaction_read_only","on"]');
    expect(wire.sent[1]).toMatch(/^select/);
    expect(wire.sent.at(-1)).toBe("commit");
  });

  it("opens a session it saw live with the tenant's check alone (SESSION_LIVENESS_WINDOW_MS), the same way", async () => {
    const { access_token } = await signUp(gw.url);
    let sent: string[] = [];
    await until("the session trusted", async () => {
      const wire = await onTheWire(gw.pool, () => read(access_token));
      sent = wire.sent;
      return wire.roundTrips === 2 && opening("true").test(wire.sent[0]);
    });
    expect(sent.at(-1)).toBe("commit");
  });

  it("runs a request's mutation fields in one transaction: opening with the first field's statement, the second's, commit", async () => {
    const { access_token } = await signUp(gw.url);
    const create = (alias: string) =>
      `${alias}: createProduct(input: { product: { sku: "${alias}", title: "T", price: "1" } }) { product { sku } }`;
    await graphql(gw.url, "{ products(first: 1) { nodes { sku } } }", {}, access_token); // the first use of a connection sets it up
    await settled();
    const wire = await onTheWire(gw.pool, async () =>
      expect((await graphql(gw.url, `mutation { ${create("W1")} ${create("W2")} }`, {}, access_token)).body.errors).toBeUndefined(),
    );
    expect(wire.roundTrips, wire.sent.join("\n")).toBe(3);
    expect(wire.answered).toBe(4);
    expect(wire.sent[0]).toMatch(opening("(false|true)"));
    expect(wire.sent[0]).not.toContain("transaction_read_only");
    expect(wire.sent.filter((text) => /^(begin|savepoint|commit|release)/.test(text))).toEqual([wire.sent[0], "commit"]);
  });

  it("refuses a session that ended in that same round trip: 401 INVALID_TOKEN, no data", async () => {
    const session = await signUp(gw.url);
    await graphql(gw.url, "{ products(first: 1) { nodes { sku } } }", {}, session.access_token); // sets up a connection of its tenant's group
    expect((await http(gw.url, "POST", "/api/auth/logout", { token: session.access_token })).status).toBe(204);
    await settled();
    const wire = await onTheWire(gw.pool, async () =>
      expect(await graphql(gw.url, "{ products(first: 1) { nodes { sku } } }", {}, session.access_token)).toMatchObject({
        status: 401,
        body: { errors: [{ message: "Session ended or account inactive", extensions: { code: "INVALID_TOKEN" } }] },
      }),
    );
    expect(wire.roundTrips).toBe(2); // the opening that failed with the read, refused (25P02); the rollback
    expect(wire.answered).toBe(3);
  });

  it("runs no statement written behind an opening that failed: a mutation of an ended session changes nothing", async () => {
    const session = await signUp(gw.url);
    const create = `mutation { createProduct(input: { product: { sku: "GONE", title: "T", price: "1" } }) { product { sku } } }`;
    await graphql(gw.url, "{ products(first: 1) { nodes { sku } } }", {}, session.access_token); // sets up a connection of its tenant's group
    expect((await http(gw.url, "POST", "/api/auth/logout", { token: session.access_token })).status).toBe(204);
    await settled();
    const wire = await onTheWire(gw.pool, async () =>
      expect(await graphql(gw.url, create, {}, session.access_token)).toMatchObject({
        status: 401,
        body: { errors: [{ extensions: { code: "INVALID_TOKEN" } }] },
      }),
    );
    expect(
      wire.sent.some((text) => /^insert into/.test(text)),
      wire.sent.join("\n"),
    ).toBe(true); // written, refused
    const tenant = (jwt.decode(session.access_token) as { tenant_id: number }).tenant_id;
    const { rows } = await gw.db.owner.query(`select count(*)::int as n from client_${tenant}.products`);
    expect(rows[0].n).toBe(0);
  });

  it("makes a query's transaction read only, as PostgreSQL enforces: a write after its opening is refused (25006)", async () => {
    const session = await signUp(gw.url);
    const claims = verifyAccessToken(gw.config.jwt, session.access_token);
    const client = new pg.Client({ connectionString: gw.db.appUrl });
    await client.connect();
    try {
      await client.query(openingStatement(pgSettingsOf(OperationTypeNode.QUERY, pgSettingsFor(claims))));
      await expect(client.query("insert into products (sku, title, price) values ('RO-1', 'T', 1)")).rejects.toMatchObject({
        code: "25006",
      });
      await client.query("rollback");
      await client.query(openingStatement(pgSettingsOf(OperationTypeNode.MUTATION, pgSettingsFor(claims))));
      await client.query("insert into products (sku, title, price) values ('RO-2', 'T', 1)");
      await client.query("rollback");
    } finally {
      await client.end();
    }
  });

  it("sends a held begin first, unchanged, when something else follows it", async () => {
    const { client, sent } = await patchedConnection();
    await client.query({ text: ADAPTOR_BEGIN } as pg.QueryConfig);
    expect(sent).toEqual([]);
    await client.query({ text: "select 1" } as pg.QueryConfig);
    expect(sent).toEqual([
      ["begin", "alone"],
      [{ text: "select 1" }, "alone"],
    ]);
  });

  it("holds a read-only transaction's commit: written with the connection's next query, in one write, or alone at the next turn", async () => {
    const { pool, client, sent } = await patchedConnection();
    const transaction = async (settings: string[][], statement: string) => {
      pool.emit("acquire", client);
      await client.query({ text: ADAPTOR_BEGIN } as pg.QueryConfig);
      await client.query({ text: ADAPTOR_SETTINGS, values: [JSON.stringify(settings)] } as pg.QueryConfig);
      await client.query({ text: statement } as pg.QueryConfig);
      await client.query({ text: ADAPTOR_COMMIT } as pg.QueryConfig);
    };
    const openingOf = (settings: string[][]) => `begin; select app_private.open_transaction('${JSON.stringify(settings)}', false)`;
    const read = [
      ["role", "stoflow_user"],
      [READ_ONLY_SETTING, "on"],
    ];
    const write = [["role", "stoflow_user"]];

    await transaction(read, "select 1");
    expect(sent).toEqual([
      [openingOf(read), "corked"],
      [{ text: "select 1" }, "corked"],
    ]); // the commit answered, not sent
    await transaction(read, "select 2");
    expect(sent.slice(2)).toEqual([
      ["commit", "corked"],
      [openingOf(read), "corked"],
      [{ text: "select 2" }, "corked"],
    ]);
    await new Promise((resolve) => setImmediate(resolve)); // no next query: the commit goes alone
    expect(sent.slice(5)).toEqual([["commit", "corked"]]);
    await transaction(write, "select 3"); // not read only: its commit is sent and answered
    expect(sent.slice(6)).toEqual([
      [openingOf(write), "corked"],
      [{ text: "select 3" }, "corked"],
      [{ text: "commit" }, "alone"],
    ]);
  });

  it("checks that @dataplan/pg's adaptor still opens transactions with the texts it merges", async () => {
    await expect(assertAdaptorOpening()).resolves.toBeUndefined();
  });
});

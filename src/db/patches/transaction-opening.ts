import { LRUCache } from "lru-cache";
import type pg from "pg";
import { makePgAdaptorWithPgClient } from "postgraphile/adaptors/pg";
import type { SessionLiveness } from "../../auth/session-liveness.ts";
import { openingFor, sendOpening, type Opening } from "../transaction.ts";

/*
 * PATCH of @dataplan/pg (kept: measured, a GraphQL read in 2 round trips instead of 5,
 * test/db/transaction-opening.test.ts counts them on the wire). Startup assertion:
 * assertAdaptorOpening, run by openTransactionsInOneRoundTrip before the server listens.
 * Retired by an upstream change that lets the node-postgres adaptor send BEGIN and the
 * transaction's settings (and a statement of ours) as one query, written with the transaction's
 * first statement, e.g. a hook on how @dataplan/pg's adaptor opens a transaction with pgSettings.
 */

/**
 * What @dataplan/pg's node-postgres adaptor sends to open a transaction with pgSettings, as two
 * round trips (node_modules/@dataplan/pg/dist/adaptors/pg.js). assertAdaptorOpening checks these
 * texts at startup, so that an upgrade that changes them fails loudly instead of silently
 * skipping the session check.
 */
export const ADAPTOR_BEGIN = "begin";
export const ADAPTOR_SETTINGS = "select set_config(el->>0, el->>1, true) from json_array_elements($1::json) el";
export const ADAPTOR_COMMIT = "commit";

type QueryConfig = { text?: unknown; values?: unknown[] } | null | undefined;
type Send = (config: unknown, ...rest: unknown[]) => Promise<unknown>;
const HELD = Promise.resolve({ command: "BEGIN", rows: [], rowCount: null, fields: [] });
const SETTINGS_HELD = Promise.resolve({ command: "SELECT", rows: [], rowCount: 0, fields: [] });
const COMMIT_HELD = Promise.resolve({ command: "COMMIT", rows: [], rowCount: null, fields: [] });

/** What a connection of a patched pool holds back until its next query. */
interface Held {
  /** The adaptor's `begin`, sent with what follows it. */
  begin: boolean;
  /** A transaction's opening, sent in the same write as its first statement. */
  opening?: Opening;
  /** The transaction in progress was opened read only (Opening.readOnly): its `commit` may be held. */
  readOnly: boolean;
  /** A read-only transaction's `commit`, answered at once and written with the connection's next query. */
  commit: boolean;
}

/** The connections of the pools patched by openTransactionsInOneRoundTrip, and what each holds back. */
const heldOn = new WeakMap<pg.PoolClient, Held>();

/**
 * Makes PostGraphile's transactions on `pool` open with no round trip of their own: the adaptor's
 * `begin` and its following set_config are held, and sent as openingStatement (BEGIN, settings,
 * the session check) in the same write as the transaction's first statement (`pipelined`). Any
 * other query after a held `begin` gets the `begin` sent first, unchanged. A connection checked
 * out again holds nothing of its last use but a read's `commit` (see holdCommit).
 */
export async function openTransactionsInOneRoundTrip(pool: pg.Pool, liveness?: SessionLiveness): Promise<void> {
  await assertAdaptorOpening();
  pool.on("acquire", (client) => heldOn.set(client, { begin: false, readOnly: false, commit: heldOn.get(client)?.commit ?? false }));
  pool.on("connect", (client) => {
    (client as { pipeline: boolean }).pipeline = true;
    const query = client.query.bind(client) as Send;
    heldOn.set(client, { begin: false, readOnly: false, commit: false });
    const send: Send = (config, ...rest) => withHeldCommit(client, query, () => query(config, ...rest));
    client.query = ((config: QueryConfig, ...rest: unknown[]) => {
      const held = heldOn.get(client)!;
      const { opening } = held;
      if (opening) {
        held.opening = undefined;
        held.readOnly = opening.readOnly;
        return withHeldCommit(client, query, () =>
          pipelined(
            client,
            () => sendOpening(opening, query, liveness),
            () => query(config, ...rest),
          ),
        );
      }
      const text = config?.text;
      if (held.begin) {
        held.begin = false;
        if (text === ADAPTOR_SETTINGS && rest.length === 0) {
          held.opening = openingOf(String(config!.values?.[0]));
          return SETTINGS_HELD;
        }
        void send(ADAPTOR_BEGIN).catch(() => {}); // the next query reports the failure
      } else if (text === ADAPTOR_BEGIN && alone(config, rest)) {
        held.begin = true;
        return HELD;
      } else if (text === ADAPTOR_COMMIT && held.readOnly && alone(config, rest)) {
        return holdCommit(client, query, held);
      }
      held.readOnly = false; // a rollback, or any other statement: the transaction ends as the adaptor says
      return send(config, ...rest);
    }) as typeof client.query;
  });
}

/** Whether a query is the adaptor's bare `{ text }` (no values, no callback): checked only once its text matched. */
const alone = (config: QueryConfig, rest: unknown[]) => rest.length === 0 && Object.keys(config!).length === 1;

/**
 * A read-only transaction's `commit`, answered at once: the adaptor releases the connection (and
 * the request answers) without waiting for it, and it is written with the connection's next
 * query, in the same write (withHeldCommit), or alone at the event loop's next turn when no query
 * came by then. Safe because PostgreSQL refused every write in the transaction (READ_ONLY_SETTING):
 * committing it or not changes no data, so its answer has nothing to tell the request. The
 * transaction stays open until then, holding its tables' ACCESS SHARE locks for that turn.
 */
function holdCommit(client: pg.PoolClient, query: Send, held: Held): Promise<unknown> {
  held.readOnly = false;
  held.commit = true;
  setImmediate(() => void withHeldCommit(client, query, () => undefined));
  return COMMIT_HELD;
}

/** Runs `write` with the connection's held `commit` (if any) written before it, in the same write. */
function withHeldCommit<T>(client: pg.PoolClient, query: Send, write: () => T): T {
  const held = heldOn.get(client);
  if (!held?.commit) return write();
  held.commit = false;
  const { stream } = socketOf(client);
  stream.cork();
  try {
    void query(ADAPTOR_COMMIT).catch(() => {}); // cannot fail but with the connection, which the next query reports
    return write();
  } finally {
    stream.uncork();
  }
}

/** The connection's socket, which `pipelined` and withHeldCommit cork while they write. */
const socketOf = (client: pg.PoolClient) => (client as unknown as { connection: { stream: { cork(): void; uncork(): void } } }).connection;

/**
 * Opens a transaction with `opening` on `client`: on a connection of a patched pool, in the same
 * write as its next query (whose failure reports the opening's); on any other, in a round trip now.
 */
export function openWithNextQuery(client: pg.PoolClient, opening: Opening, liveness: SessionLiveness | undefined): Promise<unknown> {
  const held = heldOn.get(client);
  if (!held) return sendOpening(opening, (text) => client.query(text), liveness);
  held.opening = opening;
  return SETTINGS_HELD;
}

/**
 * Sends the opening and then the statement in one write: pg's pipeline mode (on for the pool's
 * connections) sends a query without waiting for the one before to be answered, and the socket is
 * corked while both are written. Answers the statement's result, or the opening's error (a session
 * ended: 401) when the opening failed.
 *
 * A statement behind an opening that failed does not run: the opening starts with BEGIN, so a
 * failure in its settings or checks leaves the transaction aborted, and PostgreSQL refuses the
 * statement (25P02). The opening's text is ours, its values quoted (openingStatement); were BEGIN
 * itself to fail, the statement would run as the login role with none of the request's settings,
 * and that role may do nothing without switching (NOINHERIT; test/sql/isolation.test.ts).
 */
function pipelined(client: pg.PoolClient, open: () => Promise<unknown>, statement: () => Promise<unknown>): Promise<unknown> {
  const { stream } = socketOf(client);
  let opened: Promise<unknown>;
  let answered: Promise<unknown>;
  stream.cork();
  try {
    opened = open();
    opened.catch(() => {}); // answered below, unless the statement cannot even be sent
    answered = statement();
  } finally {
    stream.uncork();
  }
  const openingFailed = (error: unknown) => {
    const fail = () => {
      throw error; // once the statement is answered: the connection is free for the rollback
    };
    return answered.then(fail, fail);
  };
  return opened.then(() => answered, openingFailed);
}

/** Opening statements of recent settings: a session's requests send the same settings again and again. */
const openings = new LRUCache<string, Opening>({ max: 1_000 });

/** The opening statements of the settings the adaptor sends as `[[name, value], …]` JSON in its one parameter. */
function openingOf(settingsJson: string): Opening {
  let opening = openings.get(settingsJson);
  if (opening === undefined) {
    opening = openingFor(Object.fromEntries(JSON.parse(settingsJson) as Array<[string, string]>));
    openings.set(settingsJson, opening);
  }
  return opening;
}

/** Runs the adaptor against a recording client: it must send exactly ADAPTOR_BEGIN, then ADAPTOR_SETTINGS, and end with ADAPTOR_COMMIT. */
export async function assertAdaptorOpening(): Promise<void> {
  const sent: QueryConfig[] = [];
  const client = {
    query: (config: QueryConfig | string) => {
      sent.push(typeof config === "string" ? { text: config } : config);
      return Promise.resolve({ rows: [], rowCount: 0 });
    },
    release() {},
  };
  const withPgClient = makePgAdaptorWithPgClient({ connect: () => Promise.resolve(client) } as unknown as pg.Pool);
  await withPgClient({ probe: "1" }, () => Promise.resolve(undefined));
  const begin = sent.findIndex((config) => config?.text === ADAPTOR_BEGIN);
  const next = sent[begin + 1];
  const last = sent.at(-1);
  const ends = last?.text === ADAPTOR_COMMIT && alone(last, []);
  if (begin < 0 || next?.text !== ADAPTOR_SETTINGS || next.values?.[0] !== JSON.stringify([["probe", "1"]]) || !ends) {
    throw new Error("@dataplan/pg's adaptor opens transactions differently now: update src/db/patches/transaction-opening.ts");
  }
}

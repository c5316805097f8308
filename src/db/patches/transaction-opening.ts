import { LRUCache } from "lru-cache";
import type pg from "pg";
import { makePgAdaptorWithPgClient } from "postgraphile/adaptors/pg";
import type { SessionLiveness } from "../../auth/session-liveness.ts";
import { openingFor, sendOpening, type Opening } from "../transaction.ts";

/*
 * PATCH of @dataplan/pg (kept: measured, a GraphQL read in 3 round trips instead of 5,
 * test/db/transaction-opening.test.ts counts them on the wire). Startup assertion:
 * assertAdaptorOpening, run by openTransactionsInOneRoundTrip before the server listens.
 * Retired by an upstream change that lets the node-postgres adaptor send BEGIN and the
 * transaction's settings (and a statement of ours) as one query, e.g. a hook on how
 * @dataplan/pg's adaptor opens a transaction with pgSettings.
 */

/**
 * What @dataplan/pg's node-postgres adaptor sends to open a transaction with pgSettings, as two
 * round trips (node_modules/@dataplan/pg/dist/adaptors/pg.js). assertAdaptorOpening checks these
 * texts at startup, so that an upgrade that changes them fails loudly instead of silently
 * skipping the session check.
 */
export const ADAPTOR_BEGIN = "begin";
export const ADAPTOR_SETTINGS = "select set_config(el->>0, el->>1, true) from json_array_elements($1::json) el";

type QueryConfig = { text?: unknown; values?: unknown[] } | null | undefined;
const HELD = Promise.resolve({ command: "BEGIN", rows: [], rowCount: null, fields: [] });

/**
 * Makes PostGraphile's transactions on `pool` open in one round trip, with the session check: the
 * adaptor's `begin` is held, and sent with its following set_config as openingStatement (BEGIN,
 * settings, app_private.require_live_session()) in one simple query. Any other query after a held
 * `begin` gets the `begin` sent first, unchanged.
 */
export async function openTransactionsInOneRoundTrip(pool: pg.Pool, liveness?: SessionLiveness): Promise<void> {
  await assertAdaptorOpening();
  pool.on("connect", (client) => {
    const query = client.query.bind(client) as (config: unknown, ...rest: unknown[]) => unknown;
    let held = false;
    client.query = ((config: QueryConfig, ...rest: unknown[]) => {
      const text = config?.text;
      if (held) {
        held = false;
        if (text === ADAPTOR_SETTINGS && rest.length === 0) {
          return sendOpening(openingOf(String(config!.values?.[0])), (opening) => query(opening) as Promise<unknown>, liveness);
        }
        void (query(ADAPTOR_BEGIN) as Promise<unknown>).catch(() => {}); // the next query reports the failure
      } else if (text === ADAPTOR_BEGIN && Object.keys(config!).length === 1 && rest.length === 0) {
        held = true;
        return HELD;
      }
      return query(config, ...rest);
    }) as typeof client.query;
  });
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

/** Runs the adaptor against a recording client: it must send exactly ADAPTOR_BEGIN, then ADAPTOR_SETTINGS. */
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
  if (begin < 0 || next?.text !== ADAPTOR_SETTINGS || next.values?.[0] !== JSON.stringify([["probe", "1"]])) {
    throw new Error("@dataplan/pg's adaptor opens transactions differently now: update src/db/patches/transaction-opening.ts");
  }
}

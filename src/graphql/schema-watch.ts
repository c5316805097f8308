import type pg from "pg";
import { PgSubscriber } from "postgraphile/adaptors/pg";
import type { GrafastSubscriber } from "postgraphile/grafast";

/** The channel PostGraphile's watch fixtures notify after DDL (graphile-build-pg's watchFixtures). */
const WATCH_TOPIC = "postgraphile_watch";
const TENANT_SCHEMA = /^client_\d+$/;

/**
 * What PostGraphile's watch mode (development) listens to: `postgraphile_watch` notifications,
 * less those about tenant schemas alone. A registration creates a `client_<id>` schema and its
 * tables; the API is built from `public` and `tenant_template`, so it need not be rebuilt then.
 * PgSubscriber (@dataplan/pg) does the listening, on a pool of its own: the request pool never
 * lends its connections to a LISTEN.
 */
export class SchemaWatchSubscriber implements GrafastSubscriber<Record<string, string>> {
  readonly #listener: PgSubscriber;

  constructor(pool: pg.Pool) {
    this.#listener = new PgSubscriber(pool);
  }

  subscribe(topic: string): AsyncIterableIterator<string> {
    const events = this.#listener.subscribe(topic);
    return topic === WATCH_TOPIC ? aboutTheApi(events) : events;
  }

  release(): void {
    this.#listener.release();
  }
}

async function* aboutTheApi(events: AsyncIterableIterator<string>): AsyncIterableIterator<string> {
  for await (const payload of events) if (!onlyTenantSchemas(payload)) yield payload;
}

/** Whether a notification of the watch fixtures names tenant schemas and nothing else. */
export function onlyTenantSchemas(payload: string): boolean {
  try {
    const event = JSON.parse(payload) as { type?: string; payload?: unknown[] };
    const schemas = (event.payload ?? []).map((entry) => (event.type === "ddl" ? (entry as { schema?: unknown }).schema : entry));
    return schemas.length > 0 && schemas.every((schema) => typeof schema === "string" && TENANT_SCHEMA.test(schema));
  } catch {
    return false;
  }
}

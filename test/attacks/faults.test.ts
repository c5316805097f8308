import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UNAVAILABLE } from "../../src/db/unavailable.ts";
import { createTestDatabase, lockTables, type TestDatabase } from "../helpers/db.ts";
import { removeOwnClusters, startOwnCluster, type OwnCluster } from "../helpers/embedded.ts";
import { http, spawnServer, startTestGateway } from "../helpers/gateway.ts";
import { takePostgresAway, WAYS, type Answer } from "../helpers/outage.ts";
import { until } from "../helpers/until.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "faults");

/** Every tenant is whole (schema, admin with password, open subscription) and no schema is orphaned. */
async function expectNoHalfMadeTenant(db: TestDatabase) {
  const { rows } = await db.owner.query(`
    select 'tenant without schema ' || t.id as problem from tenants t where not exists (select 1 from pg_namespace n where n.nspname = t.schema_name)
    union all select 'tenant without admin ' || t.id from tenants t
      where not exists (select 1 from users u join app_private.user_secrets s on s.user_id = u.id where u.tenant_id = t.id and u.role = 'admin')
    union all select 'tenant without subscription ' || t.id from tenants t where not exists (select 1 from subscriptions s where s.tenant_id = t.id and s.end_date is null)
    union all select 'orphan schema ' || n.nspname from pg_namespace n where n.nspname ~ '^client_' and not exists (select 1 from tenants t where t.schema_name = n.nspname)
    union all select 'drift ' || schema_name from app_private.tenant_structure_drift()`);
  expect(rows).toEqual([]);
}

describe("faults", () => {
  it("lets exactly one of 50 concurrent HTTP registrations with one e-mail through", async () => {
    const gw = await startTestGateway();
    try {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          http(gw.url, "POST", "/api/auth/register", {
            body: { name: `Racer ${i}`, email: "same@race.test", password: "racing password" },
          }),
        ),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([201, ...Array(49).fill(400)]);
      expect(results.filter((r) => r.status === 400).every((r) => r.body.code === "EMAIL_TAKEN")).toBe(true);
      expect((await gw.db.owner.query("select count(*)::int as n from tenants where email = 'same@race.test'")).rows[0].n).toBe(1);
      await expectNoHalfMadeTenant(gw.db);
      record("50 concurrent registrations with one e-mail", 50, "one 201, 49 × 400 EMAIL_TAKEN, one tenant, no orphan schema");
    } finally {
      await gw.close();
    }
  });

  it("leaves no half-made tenant when the server is killed while registrations are inside PostgreSQL", async () => {
    const db = await createTestDatabase();
    const server = await spawnServer(db.appUrl);
    // The last step of register_tenant (the first subscription) waits on this lock: when the server
    // dies, each registration has made its tenant, schema, tables and admin, and committed nothing.
    const lock = await lockTables(db.superuserUrl, ["public.subscriptions"]);
    try {
      const emails = Array.from({ length: 8 }, (_, i) => `doomed${i}@kill.test`);
      const attempts = emails.map((email, i) =>
        http(server.url, "POST", "/api/auth/register", {
          body: { name: `Doomed ${i}`, email, password: "doomed password" },
        }).catch(() => undefined),
      );
      await until(
        "8 registrations waiting inside PostgreSQL",
        async () => (await lock.waiting()).filter((backend) => backend.query.includes("register_tenant")).length === emails.length,
      );
      server.child.kill("SIGKILL");
      expect((await Promise.all(attempts)).every((answer) => answer === undefined)).toBe(true);
      await lock.release();
      // Each backend finds its client gone and rolls back. Through PgBouncer, server connections the
      // dead server left idle (its pool groups each have an entry, and a pool, of their own) stay open.
      await until(
        "the dead server's connections ended",
        async () =>
          (
            await db.owner.query(
              "select count(*)::int as n from pg_stat_activity where usename = 'stoflow_authenticator' and datname = current_database() and state <> 'idle'",
            )
          ).rows[0].n === 0,
      );
      expect((await db.owner.query("select count(*)::int as n from tenants where email = any($1)", [emails])).rows[0].n).toBe(0);
      await expectNoHalfMadeTenant(db);
      record("server killed (SIGKILL) with 8 registrations inside PostgreSQL", 8, "none committed, no half-made tenant, no orphan schema");
    } finally {
      server.child.kill("SIGKILL");
      await lock.release();
      await db.close();
    }
  });
});

/** No answer may take longer, whatever happens to PostgreSQL (the limits of OUTAGE_TIMEOUTS, with room for a busy machine). */
const BOUNDED_MS = 30_000;
/** The one answer of every path while the database cannot serve. */
const UNAVAILABLE_ANSWER = { status: 503, retryAfter: String(UNAVAILABLE.retryAfterSeconds), code: "UNAVAILABLE" };
const unavailable = (answer: Answer) => expect(answer).toMatchObject(UNAVAILABLE_ANSWER);

describe("PostgreSQL going away under load", () => {
  let cluster: OwnCluster;
  beforeAll(async () => {
    cluster = await startOwnCluster();
  });
  afterAll(async () => {
    await cluster?.database.stop();
    await removeOwnClusters();
  });

  it.each(Object.keys(WAYS))(
    "%s: every path answers 503, Retry-After, UNAVAILABLE in bounded time, then recovers without a restart",
    async (way) => {
      const { inside, down, load } = await takePostgresAway(cluster, way);
      for (const answer of inside) if (!(WAYS[way].waitersMayFinish && answer.ok)) unavailable(answer);
      down.forEach(unavailable);
      const answers = [...inside, ...down, ...load];
      for (const answer of answers) {
        if (!answer.ok) unavailable(answer);
        expect(answer.ms, answer.path).toBeLessThan(BOUNDED_MS);
      }
      record(
        `PostgreSQL going away: ${way}`,
        answers.length,
        "each request answered in bounded time: 200, or 503 + Retry-After + UNAVAILABLE (REST, GraphQL before and during execution, /health, /ready); recovered without a restart",
      );
    },
    180_000,
  );
});

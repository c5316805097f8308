import { spawn } from "node:child_process";
import os from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareDatabase } from "../../src/db/database.ts";
import { startGateway } from "../../src/server.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { ownEmbeddedConfig, removeOwnClusters } from "../helpers/embedded.ts";
import { graphql, http, signUp, startTestGateway, TEST_JWT_SECRET, testServerConfig } from "../helpers/gateway.ts";
import { freePort } from "../helpers/ports.ts";
import { recordAttack } from "./recorder.ts";

const record = (attack: string, attempts: number, result: string) => recordAttack(import.meta.filename, "faults", attack, attempts, result);

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
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.close());

  it("lets exactly one of 50 concurrent HTTP registrations with one e-mail through", async () => {
    const gw = await startTestGateway();
    try {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => http(gw.url, "POST", "/api/auth/register", {
        body: { name: `Racer ${i}`, email: "same@race.test", password: "racing password" },
      })));
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([201, ...Array(49).fill(400)]);
      expect(results.filter((r) => r.status === 400).every((r) => r.body.code === "EMAIL_TAKEN")).toBe(true);
      expect((await gw.db.owner.query("select count(*)::int as n from tenants")).rows[0].n).toBe(1);
      await expectNoHalfMadeTenant(gw.db);
      record("50 concurrent registrations with one e-mail", 50, "one 201, 49 × 400 EMAIL_TAKEN, one tenant, no orphan schema");
    } finally {
      await gw.close();
    }
  });

  it("leaves no half-made tenant when the server is killed in the middle of registrations", async () => {
    const port = await freePort();
    const server = spawn(process.execPath, ["src/cli/start.ts"], {
      env: { ...process.env, DATABASE_URL: db.appUrl, PORT: String(port), JWT_SECRET: TEST_JWT_SECRET, BCRYPT_COST: "4", STOFLOW_DATA_DIR: os.tmpdir() },
      stdio: "ignore",
    });
    const url = `http://localhost:${port}`;
    try {
      await until(async () => (await fetch(`${url}/health`).catch(() => undefined))?.status === 200, 30_000);
      const attempts = Array.from({ length: 30 }, (_, i) => http(url, "POST", "/api/auth/register", {
        body: { name: `Doomed ${i}`, email: `doomed${i}@kill.test`, password: "doomed password" },
      }).catch(() => undefined));
      await new Promise((resolve) => setTimeout(resolve, 40));
      server.kill("SIGKILL");
      const answered = (await Promise.all(attempts)).filter((r) => r?.status === 201).length;
      // PostgreSQL rolls back the transactions of the connections that died with the server.
      await until(async () => (await db.owner.query(
        "select count(*)::int as n from pg_stat_activity where usename = 'stoflow_authenticator' and datname = current_database() and state <> 'idle'")).rows[0].n === 0, 10_000);
      const tenants = (await db.owner.query("select count(*)::int as n from tenants")).rows[0].n;
      expect(tenants).toBeGreaterThanOrEqual(answered);
      expect(tenants).toBeLessThanOrEqual(30);
      await expectNoHalfMadeTenant(db);
      record("server killed (SIGKILL) during 30 concurrent registrations", 30, `${tenants} whole tenants, no half-made one`);
    } finally {
      server.kill("SIGKILL");
    }
  });
});

describe("PostgreSQL stopped under load", () => {
  afterAll(removeOwnClusters);

  it("fails requests fast with 503 while it is down, and recovers without a restart", async () => {
    const dbConfig = await ownEmbeddedConfig();
    let database = await prepareDatabase(dbConfig, () => {});
    const gateway = await startGateway(database.appUrl, testServerConfig());
    try {
      const user = await signUp(gateway.url);
      const read = async () => {
        const started = Date.now();
        const res = await graphql(gateway.url, "{ products { totalCount } }", {}, user.access_token);
        return { status: res.status, code: res.body?.errors?.[0]?.extensions?.code ?? (res.body as { code?: string } | undefined)?.code, ms: Date.now() - started };
      };
      const load = Promise.all(Array.from({ length: 40 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 10));
        return read();
      }));
      await new Promise((resolve) => setTimeout(resolve, 100));
      await database.stop();
      const during = [...(await load), ...(await Promise.all(Array.from({ length: 10 }, read)))];
      for (const r of during) {
        expect(r.status === 200 && r.code === undefined || r.status === 503 || r.code === "UNAVAILABLE", JSON.stringify(r)).toBe(true);
        expect(r.ms).toBeLessThan(5_000);
      }
      expect(during.some((r) => r.status === 503 || r.code === "UNAVAILABLE")).toBe(true);
      expect((await http(gateway.url, "GET", "/health")).status).toBe(503);

      database = await prepareDatabase(dbConfig, () => {});
      expect((await http(gateway.url, "GET", "/health")).status).toBe(200);
      expect((await read())).toMatchObject({ status: 200, code: undefined });
      record("PostgreSQL stopped under 50 concurrent reads, then restarted", 50, "200 or 503 within 5 s each; /health 503; recovered without restart");
    } finally {
      await gateway.close();
      await database.stop();
    }
  });
});

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, lockTables, type TestDatabase } from "../helpers/db.ts";
import { spawnServer } from "../helpers/gateway.ts";
import { listening } from "../helpers/ports.ts";
import { until } from "../helpers/until.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

it("finishes the requests in flight on SIGTERM, then exits 0", async () => {
  const server = await spawnServer(db.appUrl);
  // A lock holds the registration inside PostgreSQL for as long as the test needs it in flight.
  const lock = await lockTables(db.superuserUrl, ["public.subscriptions"]);
  try {
    const inFlight = fetch(`${server.url}/api/auth/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "Late Shop", email: "late@shutdown.test", password: "shutdown password" }),
    });
    await until("the registration waiting inside PostgreSQL", async () =>
      (await lock.waiting()).some((backend) => backend.query.includes("register_tenant")),
    );
    server.child.kill("SIGTERM");
    await until("the server no longer accepting connections", async () => !(await listening(server.port)));
    await lock.release();
    expect((await inFlight).status).toBe(201);
    expect(await server.exited).toBe(0);
    const { rows } = await db.owner.query("select count(*)::int as n from tenants where email = 'late@shutdown.test'");
    expect(rows[0].n).toBe(1);
  } finally {
    server.child.kill("SIGKILL");
    await lock.release();
  }
});

import { spawn } from "node:child_process";
import os from "node:os";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { TEST_JWT_SECRET } from "../helpers/gateway.ts";
import { freePort } from "../helpers/ports.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

it("finishes the requests in flight on SIGTERM, then exits 0", async () => {
  const port = await freePort();
  const server = spawn(process.execPath, ["src/cli/start.ts"], {
    env: { ...process.env, DATABASE_URL: db.appUrl, PORT: String(port), JWT_SECRET: TEST_JWT_SECRET, BCRYPT_COST: "13", STOFLOW_DATA_DIR: os.tmpdir(), ENV_FILE: "/nonexistent" },
    stdio: "ignore",
  });
  const exited = new Promise<number | null>((resolve) => server.on("exit", (code) => resolve(code)));
  const url = `http://localhost:${port}`;
  for (let i = 0; i < 300 && !(await fetch(`${url}/health`).then((r) => r.ok, () => false)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // bcrypt at cost 13 keeps this registration in flight for a good half second.
  const inFlight = fetch(`${url}/api/auth/register`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "Late Shop", email: "late@shutdown.test", password: "shutdown password" }),
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  server.kill("SIGTERM");
  const response = await inFlight;
  expect(response.status).toBe(201);
  expect(await exited).toBe(0);
  await expect(fetch(`${url}/health`)).rejects.toThrow();
  const { rows } = await db.owner.query("select count(*)::int as n from tenants where email = 'late@shutdown.test'");
  expect(rows[0].n).toBe(1);
});

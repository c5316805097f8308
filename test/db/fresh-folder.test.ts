import { spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { temporaryDataDir } from "../../src/db/embedded.ts";
import { freePort } from "../helpers/ports.ts";

/**
 * The CLI on a fresh data folder, each command a process of its own as a developer types them:
 * what is missing is said, `npm run migrate` then any command works (no `npm start` needed first).
 */
let dataDir: string | undefined;
afterAll(async () => {
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
});

it("says what is missing before the migrations, then works after `npm run migrate` alone", { timeout: 300_000 }, async () => {
  dataDir = await temporaryDataDir("stoflow-fresh-");
  const env = {
    ...process.env,
    STOFLOW_DATA_DIR: path.join(dataDir, "data"),
    STOFLOW_PG_PORT: String(await freePort()),
    DATABASE_URL: "",
    BCRYPT_COST: "4",
    ENV_FILE: "/nonexistent",
  };
  const run = (script: string, ...args: string[]) => {
    const result = spawnSync(process.execPath, [path.join("src/cli", script), ...args], { env, encoding: "utf8" });
    expect(result.stderr).not.toMatch(/\n\s+at /);
    return { code: result.status, out: result.stdout, err: result.stderr };
  };

  expect(run("stoflow.ts", "tenants:list")).toEqual({
    code: 1,
    out: "",
    err: "tenants:list failed: this database has no migrations yet: run `npm run migrate` first\n",
  });
  expect(run("migrate.ts")).toMatchObject({ code: 0, out: expect.stringMatching(/migrations applied\n$/) });
  const created = run("stoflow.ts", "tenants:create", "--name", "Fresh Shop", "--email", "fresh@shop.test", "--password", "fresh password");
  expect(created, created.err).toMatchObject({ code: 0 });
  expect(JSON.parse(created.out)).toMatchObject({ schema: `client_${JSON.parse(created.out).tenant_id}` });
  expect(run("stoflow.ts", "tenants:list")).toMatchObject({ code: 0, out: expect.stringMatching(/^1 +Fresh Shop +fresh@shop.test/m) });
  expect(run("stoflow.ts", "tenants:check")).toMatchObject({ code: 0 });
  expect(run("db.ts", "status")).toMatchObject({ code: 0, out: expect.stringMatching(/"remainingMigrations":\[\]/) });
});

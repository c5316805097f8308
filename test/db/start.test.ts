import cluster from "node:cluster";
import fs from "node:fs/promises";
import { get } from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serve } from "../../src/cli/start.ts";
import { databaseEnv, recordingIo } from "../helpers/cli.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { http, RUN_SETTINGS, signUp, TEST_JWT_SECRET } from "../helpers/gateway.ts";
import { freePort } from "../helpers/ports.ts";
import { until } from "../helpers/until.ts";

/**
 * `npm start` (src/cli/start.ts) in this process, on a test database given by URL; the spawned
 * server of the other tests (test/helpers/gateway.ts) proves the script's own wiring.
 */
let db: TestDatabase;
let dataDir: string;
beforeAll(async () => {
  db = await createTestDatabase();
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "stoflow-start-"));
});
afterAll(async () => {
  await db?.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

const startEnv = (env: NodeJS.ProcessEnv) =>
  databaseEnv(db, {
    ...RUN_SETTINGS,
    PROBE_PORT: "0",
    JOBS_DATABASE_URL: db.jobsUrl,
    STOFLOW_DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
    ...env,
  });

async function healthy(url: string): Promise<boolean> {
  return fetch(`${url}/health`).then(
    (response) => response.status === 200,
    () => false,
  );
}

/** The status of GET `path` over a connection of its own (fetch would reuse one, reaching one worker). */
function statusOnNewConnection(url: string, path: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url + path, { agent: false, headers: { authorization: `Bearer ${token}` } }, (response) => {
      response.resume();
      resolve(response.statusCode!);
    }).on("error", reject);
  });
}

describe("npm start", () => {
  it("migrates, serves the API, and lets go of its port when stopped", async () => {
    const io = recordingIo(startEnv({ PORT: "0", JWT_SECRET: TEST_JWT_SECRET }));
    const serving = await serve(io);
    try {
      expect(await http(serving.url, "GET", "/health")).toMatchObject({ status: 200, body: { status: "ok", database: "ok" } });
      expect((await signUp(serving.url)).access_token).toEqual(expect.any(String));
    } finally {
      await serving.stop();
    }
    expect(io.printed.out).toMatch(/^graphile-migrate: Already up to date$/m);
    expect(await healthy(serving.url)).toBe(false);
  });

  it("refuses a bad setting before it touches the database", async () => {
    await expect(serve(recordingIo(startEnv({ PORT: "http" })))).rejects.toThrow(
      'PORT must be a whole number from 0 to 65535 (got "http")',
    );
    await expect(serve(recordingIo(startEnv({ WEB_CONCURRENCY: "0" })))).rejects.toThrow(
      /^WEB_CONCURRENCY must be a whole number from 1 to 64/,
    );
  });

  it(
    "with WEB_CONCURRENCY=2, serves from two workers that share the generated secret, and replaces one that dies",
    { timeout: 180_000 },
    async () => {
      const io = recordingIo(startEnv({ PORT: String(await freePort()), WEB_CONCURRENCY: "2" }));
      const listening = new Set<number>();
      const onListening = (worker: { id: number }) => listening.add(worker.id);
      cluster.on("listening", onListening);
      const serving = await serve(io);
      try {
        const workers = () => Object.values(cluster.workers ?? {});
        expect(workers()).toHaveLength(2);
        await until("both workers listen", () => workers().every((worker) => listening.has(worker!.id)), 120_000);
        // A token signed by one worker is good on the other (connections go to the workers in turn): one secret.
        const { access_token: token } = await signUp(serving.url);
        for (let i = 0; i < 4; i++) expect(await statusOnNewConnection(serving.url, "/api/auth/session", token)).toBe(200);

        const [victim] = workers();
        victim!.process.kill("SIGKILL");
        await until("another worker started", () =>
          io.printed.err.includes(`worker ${victim!.process.pid} exited (SIGKILL); starting another`),
        );
        expect(workers()).toHaveLength(2);
        expect(await healthy(serving.url)).toBe(true);
      } finally {
        await serving.stop();
        cluster.off("listening", onListening);
      }
      expect(Object.values(cluster.workers ?? {})).toEqual([]);
      expect(await healthy(serving.url)).toBe(false);
    },
  );
});

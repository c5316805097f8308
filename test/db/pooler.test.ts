import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { poolerMode, poolerProblem } from "../../src/db/pooler-check.ts";
import { startGateway } from "../../src/server.ts";
import { serve } from "../../src/cli/start.ts";
import { databaseEnv, recordingIo } from "../helpers/cli.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { testServerConfig, TEST_JWT_SECRET } from "../helpers/gateway.ts";
import { freePort, listening } from "../helpers/ports.ts";
import { until } from "../helpers/until.ts";

/** Debian's PgBouncer (1.18: no prepared statements across transactions); CI installs it (.ci/run). */
const present = fs.existsSync("/usr/sbin/pgbouncer");
const skip = !present && !process.env.CI;
if (skip) console.warn("pgbouncer is not installed: the pooler checks are skipped (apt-get install -y pgbouncer)");

let db: TestDatabase;
let bouncer: ChildProcess;
let viaBouncer: string;
let dir: string;

/** PgBouncer in transaction mode in front of the test database, as stoflow_authenticator. */
beforeAll(async () => {
  if (skip) return;
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stoflow-pooler-"));
  const direct = new URL(db.jobsUrl);
  const port = await freePort();
  fs.writeFileSync(path.join(dir, "userlist.txt"), `"stoflow_authenticator" "${inject("authenticatorPassword")}"\n`, { mode: 0o644 });
  fs.writeFileSync(
    path.join(dir, "pgbouncer.ini"),
    `[databases]\n* = host=${direct.hostname} port=${direct.port}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${port}\n` +
      `unix_socket_dir =\nauth_type = scram-sha-256\nauth_file = ${path.join(dir, "userlist.txt")}\npool_mode = transaction\ndefault_pool_size = 4\nserver_reset_query =\n`,
  );
  fs.chmodSync(dir, 0o755);
  const asUser =
    process.getuid?.() === 0
      ? { uid: Number(execFileSync("id", ["-u", "postgres"]).toString()), gid: Number(execFileSync("id", ["-g", "postgres"]).toString()) }
      : {};
  bouncer = spawn("/usr/sbin/pgbouncer", ["-q", path.join(dir, "pgbouncer.ini")], { ...asUser, stdio: "inherit" });
  await until("PgBouncer listening", () => listening(port), 5_000);
  const url = new URL(db.jobsUrl);
  url.host = `127.0.0.1:${port}`;
  viaBouncer = url.toString();
});
afterAll(async () => {
  bouncer?.kill("SIGTERM");
  await db?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skip)("a transaction-mode pooler in front of the database", () => {
  it("is told from a direct connection: statements move between backends, and PgBouncer 1.18 loses prepared ones", async () => {
    expect(await poolerMode(db.jobsUrl)).toEqual({ transactionPooled: false, keepsPreparedStatements: true });
    expect(await poolerMode(viaBouncer)).toEqual({ transactionPooled: true, keepsPreparedStatements: false });
  });

  it("with prepared statements on, the server refuses to start with one clear line", async () => {
    await expect(startGateway(viaBouncer, testServerConfig({ DATABASE_PREPARED_STATEMENTS: "true" }))).rejects.toThrow(
      /^DATABASE_URL goes through a transaction-mode pooler that does not keep prepared statements .*DATABASE_PREPARED_STATEMENTS=false/,
    );
  });

  it("with the job worker behind it, the server refuses to start and says to set JOBS_DATABASE_URL", async () => {
    const config = testServerConfig({
      DATABASE_PREPARED_STATEMENTS: "false",
      DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE: "0",
      JOBS_IN_PROCESS: "true",
    });
    expect(await poolerProblem(viaBouncer, config)).toMatch(
      /^DATABASE_URL goes through a transaction-mode pooler, and the job worker needs a session .*set JOBS_DATABASE_URL/,
    );
    expect(await poolerProblem(viaBouncer, { ...config, jobs: { ...config.jobs, databaseUrl: db.jobsUrl } })).toBeUndefined();
  });

  it("with live updates' LISTEN behind it, the server refuses to start and says to set DATABASE_LISTEN_URL", async () => {
    const config = testServerConfig({
      DATABASE_PREPARED_STATEMENTS: "false",
      DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE: "0",
      JOBS_IN_PROCESS: "false",
    });
    expect(await poolerProblem(viaBouncer, config)).toMatch(
      /^DATABASE_URL goes through a transaction-mode pooler, which loses LISTEN's notifications .*DATABASE_LISTEN_URL/,
    );
    expect(await poolerProblem(viaBouncer, { ...config, live: { ...config.live, listenUrl: viaBouncer } })).toMatch(
      /^DATABASE_LISTEN_URL goes through/,
    );
    expect(await poolerProblem(viaBouncer, { ...config, live: { ...config.live, listenUrl: db.jobsUrl } })).toBeUndefined();
  });

  it("npm start with WEB_CONCURRENCY=2 refuses once, before forking workers that would fail in a loop", async () => {
    const io = recordingIo(
      databaseEnv(db, {
        DATABASE_URL: viaBouncer,
        PORT: "0",
        PROBE_PORT: "0",
        WEB_CONCURRENCY: "2",
        JWT_SECRET: TEST_JWT_SECRET,
        LOG_LEVEL: "silent",
        DATABASE_PREPARED_STATEMENTS: "true",
      }),
    );
    await expect(serve(io)).rejects.toThrow(/transaction-mode pooler that does not keep prepared statements/);
  });
});

import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { startEmbeddedCluster, temporaryDataDir } from "../src/db/embedded.ts";
import { freePort, listening } from "./helpers/ports.ts";
import { until } from "./helpers/until.ts";

/**
 * `npm run test:pgbouncer`: the whole test suite again, with the server's and the owner's
 * connections going through PgBouncer in transaction pooling mode (Debian's `pgbouncer` package,
 * 1.18: it cannot keep prepared statements, so they are turned off for this run), each group of
 * the server's pool through a PgBouncer entry of its own (DATABASE_POOL_GROUP_DATABASE).
 */
const SUPERUSER_PASSWORD = "superuser-test-password";
const dir = await temporaryDataDir("stoflow-pgbouncer-");
const cluster = await startEmbeddedCluster(dir, await freePort(), SUPERUSER_PASSWORD);
const bouncerPort = await freePort();
await fs.writeFile(
  path.join(dir, "userlist.txt"),
  [
    ["postgres", SUPERUSER_PASSWORD],
    ["stoflow_owner", "owner-test-password"],
    ["stoflow_authenticator", "authenticator-test-password"],
  ]
    .map(([user, password]) => `"${user}" "${password}"`)
    .join("\n") + "\n",
);
// Each test database adds the entries its server's pool groups connect to (test/helpers/db.ts).
const groupsFile = path.join(dir, "groups.ini");
await fs.writeFile(groupsFile, "");
await fs.chmod(dir, 0o755);
await fs.chmod(groupsFile, 0o666);
await fs.writeFile(
  path.join(dir, "pgbouncer.ini"),
  `[databases]
* = host=127.0.0.1 port=${cluster.port}
%include ${groupsFile}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${bouncerPort}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = ${path.join(dir, "userlist.txt")}
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 40
server_reset_query =
ignore_startup_parameters = extra_float_digits
`,
);
await fs.chmod(path.join(dir, "userlist.txt"), 0o644);
// PgBouncer refuses to run as root: run it as the cluster's system user when we are root.
const asUser =
  process.getuid?.() === 0
    ? { uid: Number(execFileSync("id", ["-u", "postgres"]).toString()), gid: Number(execFileSync("id", ["-g", "postgres"]).toString()) }
    : {};
const bouncer = spawn("pgbouncer", ["-q", path.join(dir, "pgbouncer.ini")], { ...asUser, stdio: "inherit" });
await until("PgBouncer listening", () => listening(bouncerPort), 5_000);

const vitest = spawn(process.execPath, ["node_modules/vitest/vitest.mjs", "run", ...process.argv.slice(2)], {
  stdio: "inherit",
  env: {
    ...process.env,
    TEST_ROOT_DATABASE_URL: cluster.superuserUrl("postgres"),
    TEST_PGBOUNCER_URL: `postgres://127.0.0.1:${bouncerPort}`,
    // The server's pool groups each through an entry of their own, as deploy/pgbouncer.ini has them (test/helpers/db.ts).
    TEST_PGBOUNCER_GROUPS_FILE: groupsFile,
    TEST_PGBOUNCER_PID: String(bouncer.pid),
    DATABASE_PREPARED_STATEMENTS: "false",
    DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE: "0",
  },
});
const code = await new Promise<number>((resolve) => vitest.on("exit", (status) => resolve(status ?? 1)));
bouncer.kill("SIGTERM");
await cluster.stop();
await fs.rm(dir, { recursive: true, force: true });
process.exitCode = code;

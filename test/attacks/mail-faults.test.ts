import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, signUp, spawnServer, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { linkOf, mailSettings, startMailbox, type Mailbox } from "../helpers/mail.ts";
import { until } from "../helpers/until.ts";
import { stoflow as stoflowMain } from "../../src/cli/stoflow.ts";
import { work } from "../../src/cli/worker.ts";
import { databaseEnv, runInProcess } from "../helpers/cli.ts";
import { recordAttack } from "./recorder.ts";

const record = (attack: string, attempts: number, result: string) => recordAttack(import.meta.filename, "faults", attack, attempts, result);

let mailbox: Mailbox;
let gw: TestGateway;
beforeAll(async () => {
  mailbox = await startMailbox();
  gw = await startTestGateway(mailSettings(mailbox));
});
afterAll(async () => {
  await gw.close();
  await mailbox.close();
});

/** The verification job of a user, as the operator sees it. */
const jobOf = async (userId: number) =>
  (await gw.db.owner.query("select id, attempts, last_error from graphile_worker.jobs where key = $1", [`verify_email:${userId}`])).rows[0];
const failedOnce = (userId: number) => until("a failed attempt to send", async () => Boolean((await jobOf(userId))?.last_error), 30_000);
const verify = (token: string) => http(gw.url, "POST", "/api/auth/verify-email", { body: { token } });

describe("mail when things fail", () => {
  it("registers while the SMTP server is down; the job retries and the message arrives once it is back", async () => {
    await mailbox.down();
    const shop = await signUp(gw.url, "Offline Relay");
    await failedOnce(shop.user.id);
    expect((await jobOf(shop.user.id)).last_error).toMatch(/ECONNREFUSED/);
    await mailbox.up();
    const mail = await mailbox.next(shop.email, 60_000); // graphile-worker's backoff: e¹ ≈ 3 s, e² ≈ 7 s…
    expect((await verify(linkOf(mail, "/verify-email").token)).status).toBe(204);
    record("register while the SMTP server refuses connections", 1, "201; the message arrives after SMTP is back, its link works");
  });
});

describe("operating the queue apart from the servers (npm run worker, stoflow jobs:failed / jobs:retry)", () => {
  let apart: TestGateway; // no worker inside: only the ones this test starts
  beforeAll(async () => {
    apart = await startTestGateway();
  });
  afterAll(() => apart.close());

  const workerEnv = () => ({ ...process.env, DATABASE_URL: apart.db.jobsUrl, ENV_FILE: "/nonexistent", ...mailSettings(mailbox), LOG_LEVEL: "warn" });
  /** `npm run worker` over the database of `apart`, in a process of its own; resolves once it stopped (SIGTERM). */
  function startWorker() {
    const child = spawn(process.execPath, ["src/cli/worker.ts"], { env: workerEnv(), stdio: "ignore" });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    return { stop: () => (child.kill("SIGTERM"), exited) };
  }
  /** `npm run stoflow -- <args>` over the database of `apart`, in this process. */
  const stoflow = (...args: string[]) => runInProcess(stoflowMain, args, databaseEnv(apart.db));
  const job = async (userId: number) =>
    (await apart.db.owner.query("select id, last_error from graphile_worker.jobs where key = $1", [`verify_email:${userId}`])).rows[0];

  it("shows the operator a job that failed, and sends it on jobs:retry", async () => {
    await mailbox.down();
    const shop = await signUp(apart.url, "Operator Watched");
    const failing = await work({ out: () => {}, err: () => {}, env: { ...workerEnv(), LOG_LEVEL: "silent" } }); // npm run worker, in this process
    await until("a failed attempt to send", async () => Boolean((await job(shop.user.id))?.last_error), 30_000);
    await failing.stop();

    const failed = JSON.parse((await stoflow("jobs:failed", "--json")).out) as { id: string; key: string; status: string; last_error: string }[];
    const listed = failed.find((j) => j.key === `verify_email:${shop.user.id}`)!;
    expect(listed).toMatchObject({ status: "retrying", last_error: expect.stringMatching(/ECONNREFUSED/) });
    expect(await stoflow("jobs:retry", String(listed.id))).toMatchObject({ code: 0, err: expect.stringContaining("1 jobs rescheduled") });
    expect(await stoflow("jobs:retry")).toMatchObject({ code: 2 });

    await mailbox.up();
    const worker = startWorker();
    try {
      const mail = await mailbox.next(shop.email, 30_000);
      expect((await http(apart.url, "POST", "/api/auth/verify-email", { body: { token: linkOf(mail, "/verify-email").token } })).status).toBe(204);
      await until("the job done", async () => (await job(shop.user.id)) === undefined, 10_000);
    } finally {
      await worker.stop();
    }
    expect(JSON.parse((await stoflow("jobs:failed", "--json")).out)).toEqual([]);
  });

  it("sends the message of a registration whose server was killed before sending, once a worker runs", async () => {
    const server = await spawnServer(apart.db.appUrl); // no worker in it: the job waits in the database
    const shop = await signUp(server.url, "Killed Server");
    server.child.kill("SIGKILL");
    await server.exited;
    expect(mailbox.to(shop.email)).toEqual([]);
    const worker = startWorker();
    try {
      const mail = await mailbox.next(shop.email, 30_000);
      expect((await http(apart.url, "POST", "/api/auth/verify-email", { body: { token: linkOf(mail, "/verify-email").token } })).status).toBe(204);
    } finally {
      await worker.stop();
    }
    record("kill -9 the server right after a registration committed, before its message was sent", 1, "the message is sent by the next worker");
  });
});

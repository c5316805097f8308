import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, signUp, spawnServer, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { linkOf, mailedGateway, mailSettings } from "../helpers/mail.ts";
import { until } from "../helpers/until.ts";
import { stoflow as stoflowMain } from "../../src/cli/stoflow.ts";
import { work } from "../../src/cli/worker.ts";
import { databaseEnv, runInProcess } from "../helpers/cli.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "faults");

const { gw, mailbox } = mailedGateway();

/** The verification job of an address, as the operator sees it. */
const jobOf = async (email: string) =>
  (
    await gw.db.owner.query("select id, attempts, last_error from graphile_worker.jobs where key = $1", [
      `verify_email:${email.toLowerCase()}`,
    ])
  ).rows[0];
const failedOnce = (email: string) => until("a failed attempt to send", async () => Boolean((await jobOf(email))?.last_error), 30_000);
const verify = (token: string) => http(gw.url, "POST", "/api/auth/verify-email", { body: { token } });

describe("mail when things fail", () => {
  it("registers while the SMTP server is down; the job retries and the message arrives once it is back", async () => {
    await mailbox.down();
    const shop = await signUp(gw.url, "Offline Relay");
    await failedOnce(shop.email);
    expect((await jobOf(shop.email)).last_error).toMatch(/ECONNREFUSED/);
    await mailbox.up();
    const mail = await mailbox.next(shop.email, 60_000); // graphile-worker's backoff: e¹ ≈ 3 s, e² ≈ 7 s…
    expect((await verify(linkOf(mail, "/verify-email").token)).status).toBe(204);
    record("register while the SMTP server refuses connections", 1, "201; the message arrives after SMTP is back, its link works");
  });

  it("counts an invitation's retries once against its recipient's share of invitation messages", async () => {
    const strict = await startTestGateway({ ...mailSettings(mailbox), MAIL_REQUESTS_PER_EMAIL: "1" });
    try {
      const admin = await signUp(strict.url, "Patient Inviter");
      await mailbox.next(admin.email);
      await mailbox.down();
      const email = `retried-${process.pid}@faults.test`;
      const { body } = await http(strict.url, "POST", "/api/auth/invitations", { token: admin.access_token, body: { email } });
      await until(
        "a failed attempt to send",
        async () =>
          Boolean(
            (await strict.db.owner.query("select last_error from graphile_worker.jobs where key = $1", [`invitation:${body.id}`])).rows[0]
              ?.last_error,
          ),
        30_000,
      );
      await mailbox.up();
      expect(linkOf(await mailbox.next(email, 60_000), "/accept-invitation").token).toMatch(/^[\w-]{43}$/);
    } finally {
      await strict.close();
    }
    record(
      "invite while the SMTP server refuses connections, with one invitation message an hour per address",
      1,
      "the retry is sent: a retry is not counted again",
    );
  });
});

describe("operating the queue apart from the servers (npm run worker, stoflow jobs:failed / jobs:retry)", () => {
  let apart: TestGateway; // no worker inside: only the ones this test starts
  beforeAll(async () => {
    apart = await startTestGateway();
  });
  afterAll(() => apart.close());

  const workerEnv = () => ({
    ...process.env,
    DATABASE_URL: apart.db.jobsUrl,
    ENV_FILE: "/nonexistent",
    ...mailSettings(mailbox),
    LOG_LEVEL: "warn",
  });
  /** `npm run worker` over the database of `apart`, in a process of its own; resolves once it stopped (SIGTERM). */
  function startWorker() {
    const child = spawn(process.execPath, ["src/cli/worker.ts"], { env: workerEnv(), stdio: "ignore" });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    return { stop: () => (child.kill("SIGTERM"), exited) };
  }
  /** `npm run stoflow -- <args>` over the database of `apart`, in this process. */
  const stoflow = (...args: string[]) => runInProcess(stoflowMain, args, databaseEnv(apart.db));
  const job = async (email: string) =>
    (await apart.db.owner.query("select id, last_error from graphile_worker.jobs where key = $1", [`verify_email:${email.toLowerCase()}`]))
      .rows[0];

  it("shows the operator a job that failed, and sends it on jobs:retry", async () => {
    await mailbox.down();
    const shop = await signUp(apart.url, "Operator Watched");
    const failing = await work({ out: () => {}, err: () => {}, env: { ...workerEnv(), LOG_LEVEL: "silent" } }); // npm run worker, in this process
    await until("a failed attempt to send", async () => Boolean((await job(shop.email))?.last_error), 30_000);
    await failing.stop();

    const failed = JSON.parse((await stoflow("jobs:failed", "--json")).out) as {
      id: string;
      key: string;
      status: string;
      last_error: string;
    }[];
    const listed = failed.find((j) => j.key === `verify_email:${shop.email.toLowerCase()}`)!;
    expect(listed).toMatchObject({ status: "retrying", last_error: expect.stringMatching(/ECONNREFUSED/) });
    expect(await stoflow("jobs:retry", String(listed.id))).toMatchObject({ code: 0, err: expect.stringContaining("1 jobs rescheduled") });
    expect(await stoflow("jobs:retry")).toMatchObject({ code: 2 });

    await mailbox.up();
    const worker = startWorker();
    try {
      const mail = await mailbox.next(shop.email, 30_000);
      expect(
        (await http(apart.url, "POST", "/api/auth/verify-email", { body: { token: linkOf(mail, "/verify-email").token } })).status,
      ).toBe(204);
      await until("the job done", async () => (await job(shop.email)) === undefined, 10_000);
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
      expect(
        (await http(apart.url, "POST", "/api/auth/verify-email", { body: { token: linkOf(mail, "/verify-email").token } })).status,
      ).toBe(204);
    } finally {
      await worker.stop();
    }
    record(
      "kill -9 the server right after a registration committed, before its message was sent",
      1,
      "the message is sent by the next worker",
    );
  });
});

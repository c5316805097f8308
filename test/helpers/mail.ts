import { simpleParser, type ParsedMail } from "mailparser";
import type pg from "pg";
import { newOpaqueToken } from "../../src/auth/tokens.ts";
import { startJobWorker, type JobWorker } from "../../src/jobs/worker.ts";
import { createLogger } from "../../src/logger.ts";
import { afterAll, beforeAll } from "vitest";
import { startTestGateway, testServerConfig, type TestGateway } from "./gateway.ts";
import { SMTPServer } from "smtp-server";
import { freePort } from "./ports.ts";
import { until } from "./until.ts";

/**
 * A real SMTP server in this process (npm smtp-server) that parses what it receives (mailparser):
 * the server under test sends to it through nodemailer over TCP, as it would to a mail relay.
 * `down()` stops listening (connections refused, as when the relay is down), `up()` listens again
 * on the same port.
 */
export interface Mailbox {
  /** SMTP_URL for the server under test. */
  url: string;
  /** Every message received, in order. */
  received: ParsedMail[];
  /** The next message to `to` not taken yet (waits up to `timeoutMs`). */
  next(to: string, timeoutMs?: number): Promise<ParsedMail>;
  /** Messages to `to` received so far. */
  to(to: string): ParsedMail[];
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

/** `delayMs`: how long the server takes to accept each message (a slow relay, so that a backlog shows). */
export async function startMailbox({ delayMs = 0 }: { delayMs?: number } = {}): Promise<Mailbox> {
  const port = await freePort();
  const received: ParsedMail[] = [];
  const taken = new Set<ParsedMail>();
  let server: SMTPServer | undefined;
  const up = async () => {
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onData(stream, _session, callback) {
        simpleParser(stream).then((mail) => {
          received.push(mail);
          setTimeout(callback, delayMs);
        }, callback);
      },
    });
    await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
  };
  const down = () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  const to = (address: string) => received.filter((mail) => recipients(mail).includes(address.toLowerCase()));
  await up();
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    to,
    async next(address, timeoutMs = 30_000) {
      const fresh = () => to(address).find((mail) => !taken.has(mail));
      await until(`a message to ${address}`, () => fresh() !== undefined, timeoutMs);
      const mail = fresh()!;
      taken.add(mail);
      return mail;
    },
    up,
    down,
    close: down,
  };
}

function recipients(mail: ParsedMail): string[] {
  const fields = Array.isArray(mail.to) ? mail.to : mail.to ? [mail.to] : [];
  return fields.flatMap((field) => field.value.map((a) => (a.address ?? "").toLowerCase()));
}

/** The link of a message (its plain-text body) whose path is `path`, and the token it carries; the HTML body must carry the same link. */
export function linkOf(mail: ParsedMail, path: string): { url: URL; token: string } {
  const found = (mail.text ?? "")
    .match(/https?:\/\/\S+/g)
    ?.map((raw) => new URL(raw))
    .find((url) => url.pathname === path);
  if (!found) throw new Error(`no ${path} link in: ${mail.text}`);
  if (!(mail.html || "").includes(found.href.replace(/&/g, "&#38;"))) throw new Error(`the HTML body lacks ${found.href}`);
  return { url: found, token: found.searchParams.get("token")! };
}

/** Mail settings of a test server whose in-process worker sends to `mailbox`, polling retries often. */
export const mailSettings = (mailbox: Mailbox): NodeJS.ProcessEnv => ({
  JOBS_IN_PROCESS: "true",
  SMTP_URL: mailbox.url,
  APP_URL: "https://app.stoflow.test",
  JOBS_POLL_INTERVAL_MS: "200",
});

/**
 * A token of `purpose` (verify_email, reset_password) for a user, stored as the worker stores one
 * (its hash, under the user's credential version), without a message: for tests about what a
 * token may do (expired: `expiresIn` negative), not about delivery.
 */
export async function plantToken(
  owner: pg.Pool,
  userId: number,
  purpose: string,
  { email, expiresIn = "1 hour" }: { email?: string; expiresIn?: string } = {},
): Promise<string> {
  const { token, hash } = newOpaqueToken();
  await owner.query(
    `insert into app_private.user_tokens (token_hash, user_id, purpose, email, expires_at, credential_version)
     select $1, u.id, $3, coalesce($4, u.email), now() + $5::interval, s.credential_version
       from public.users u join app_private.user_secrets s on s.user_id = u.id where u.id = $2`,
    [hash, userId, purpose, email ?? null, expiresIn],
  );
  return token;
}

/** The token an invitation's message would carry, stored as the worker stores it. */
export async function plantInvitationToken(owner: pg.Pool, invitationId: number): Promise<string> {
  const { token, hash } = newOpaqueToken();
  await owner.query(
    `insert into app_private.user_tokens (token_hash, purpose, email, expires_at, invitation_id)
     select $1, 'invitation', i.email, i.expires_at, i.id from public.invitations i where i.id = $2`,
    [hash, invitationId],
  );
  return token;
}

/**
 * A change of address of a user to `newEmail`, pending, with the tokens of its two messages (to
 * the old and to the new address), stored as SQL and the worker store them.
 */
export async function plantEmailChange(owner: pg.Pool, userId: number, newEmail: string): Promise<{ old: string; new: string }> {
  await owner.query("delete from app_private.email_changes where user_id = $1", [userId]);
  const { rows } = await owner.query(
    `insert into app_private.email_changes (user_id, old_email, new_email, expires_at)
     select u.id, u.email, $2, now() + interval '1 hour' from public.users u where u.id = $1 returning id, old_email`,
    [userId, newEmail],
  );
  const plant = async (email: string) => {
    const { token, hash } = newOpaqueToken();
    await owner.query(
      `insert into app_private.user_tokens (token_hash, user_id, purpose, email, expires_at, credential_version, email_change_id)
       select $1, s.user_id, 'change_email', $3, now() + interval '1 hour', s.credential_version, $4
         from app_private.user_secrets s where s.user_id = $2`,
      [hash, userId, email, rows[0].id],
    );
    return token;
  };
  return { old: await plant(rows[0].old_email), new: await plant(newEmail) };
}

/**
 * A job worker (the server's own, src/jobs/worker.ts) over the queue of a gateway that runs none,
 * sending to `mailbox`: the test decides when queued messages are minted and sent (after a
 * credential event, after a flood was queued…). `env`: more settings (JOBS_CONCURRENCY…).
 */
export function startMailWorker(gw: TestGateway, mailbox: Mailbox, env: NodeJS.ProcessEnv = {}): Promise<JobWorker> {
  return startJobWorker(gw.db.jobsUrl, testServerConfig({ ...mailSettings(mailbox), ...env }), createLogger(undefined, "silent"));
}

/** Runs a worker (startMailWorker) until no job is left, then stops it. */
export async function deliverQueuedMail(gw: TestGateway, mailbox: Mailbox): Promise<void> {
  const worker = await startMailWorker(gw, mailbox);
  try {
    await until(
      "the queue to drain",
      async () => (await gw.db.owner.query("select count(*)::int as n from graphile_worker.jobs")).rows[0].n === 0,
    );
  } finally {
    await worker.stop();
  }
}

/**
 * A value made in `beforeAll`, usable by name at the top of a test file: every property read goes
 * to the value once it is set (methods bound to it); reading it before is an error.
 */
function lateBound<T extends object>(): { value: T; set(value: T): void } {
  let target: T | undefined;
  const value = new Proxy({} as T, {
    get(_, name) {
      if (target === undefined) throw new Error("read before beforeAll made it");
      const property = Reflect.get(target, name, target);
      return typeof property === "function" ? property.bind(target) : property;
    },
  });
  return { value, set: (made) => void (target = made) };
}

/**
 * The test file's gateway, whose account messages (sent by its in-process job worker) reach the
 * file's own SMTP mailbox: both started before the file's tests and closed after them.
 */
export function mailedGateway(env: NodeJS.ProcessEnv = {}): { gw: TestGateway; mailbox: Mailbox } {
  const gw = lateBound<TestGateway>();
  const mailbox = lateBound<Mailbox>();
  let made: { gw?: TestGateway; mailbox?: Mailbox } = {};
  beforeAll(async () => {
    made.mailbox = await startMailbox();
    mailbox.set(made.mailbox);
    made.gw = await startTestGateway({ ...mailSettings(made.mailbox), ...env });
    gw.set(made.gw);
  });
  afterAll(async () => {
    await made.gw?.close();
    await made.mailbox?.close();
    made = {};
  });
  return { gw: gw.value, mailbox: mailbox.value };
}

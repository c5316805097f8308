import type pg from "pg";
import type { Task } from "graphile-worker";
import type { MailConfig } from "../config/mail.ts";
import { newOpaqueToken } from "../auth/tokens.ts";
import { runTransaction } from "../db/transaction.ts";
import type { Mailer, MailMessage } from "../mail/mailer.ts";
import { emailChangeMessage, invitationMessage, LINK_PATHS, resetMessage, validityInWords, verificationMessage } from "../mail/messages.ts";

/**
 * The payloads SQL queues (app_private.queue_account_email, queue_invitation_email,
 * request_email_change). None names a user: whether an account fits is decided here, as the
 * message is sent, so that asking takes the same time either way; `requested_at` (when it was
 * asked for; absent in jobs queued before it existed) lets SQL send nothing to an account whose
 * credentials changed since.
 */
type AccountEmailJob =
  | { purpose: "verify_email" | "reset_password"; email: string; requested_at?: string }
  | { purpose: "invitation"; invitation_id: number }
  | { purpose: "change_email"; change_id: number; side: "old" | "new" };

/** A link of the application with a token. */
type LinkTo = (path: string, token: string) => string;

/**
 * The `account_email` task: mints the token and stores its hash (committed before the message
 * leaves, so a link followed at once works), then sends the message. A message that could not be
 * sent fails the job, retried with graphile-worker's backoff and a fresh token; the token of the
 * failed attempt was never seen by anyone and simply expires. Nothing to send (no account fits,
 * already verified, invitation revoked, change cancelled): done.
 */
export function accountEmailTask(pool: pg.Pool, mailer: Mailer, mail: MailConfig): Task {
  const linkTo: LinkTo = (path, token) => `${mail.appUrl}${path}?token=${token}`;
  return async (payload, helpers) => {
    const { token, hash } = newOpaqueToken();
    const issue = <T>(sql: string, params: unknown[]) =>
      runTransaction(pool, {}, async (client) => (await client.query<T & pg.QueryResultRow>(sql, [...params])).rows[0]);
    const message = await messageFor(payload as AccountEmailJob, {
      token,
      hash,
      issue,
      mail,
      linkTo,
      firstAttempt: helpers.job.attempts <= 1,
    });
    if (message) await mailer.send(message);
  };
}

interface Minting {
  token: string;
  hash: Buffer;
  /** Runs the SQL that stores the token's hash, and returns whom to write (undefined: nothing to send). */
  issue: <T>(sql: string, params: unknown[]) => Promise<T | undefined>;
  mail: MailConfig;
  linkTo: LinkTo;
  /** A retry (the relay failed before) is not counted again against the recipient's share of invitations. */
  firstAttempt: boolean;
}

async function messageFor(
  job: AccountEmailJob,
  { token, hash, issue, mail, linkTo, firstAttempt }: Minting,
): Promise<MailMessage | undefined> {
  const ttl = mail.tokenTtlSeconds[job.purpose];
  const validity = validityInWords(ttl);
  if (job.purpose === "invitation") {
    const to = await issue<{ email: string; tenant_name: string; role: string }>(
      "select * from app_private.issue_invitation_token($1, $2, $3, $4, $5)",
      [job.invitation_id, hash, mail.requestsPerEmail, mail.requestWindowSeconds, firstAttempt],
    );
    // The invitation's own expiry (INVITATION_TTL from when it was sent) is the link's.
    return (
      to && invitationMessage({ to: to.email, shop: to.tenant_name, role: to.role, link: linkTo(LINK_PATHS.invitation, token), validity })
    );
  }
  if (job.purpose === "change_email") {
    const to = await issue<{ email: string; full_name: string | null; new_email: string }>(
      "select * from app_private.issue_email_change_token($1, $2, $3)",
      [job.change_id, job.side, hash],
    );
    return (
      to &&
      emailChangeMessage({
        to: to.email,
        name: to.full_name,
        newEmail: to.new_email,
        link: linkTo(LINK_PATHS.change_email, token),
        validity,
        ...(job.side === "old" ? { cancelLink: linkTo(LINK_PATHS.cancel_email_change, token) } : {}),
      })
    );
  }
  const to = await issue<{ email: string; full_name: string | null; tenant_name: string }>(
    "select * from app_private.issue_account_token($1, $2, $3, make_interval(secs => $4), coalesce($5, now()))",
    [job.purpose, job.email, hash, ttl, job.requested_at ?? null],
  );
  if (!to) return undefined;
  const link = linkTo(LINK_PATHS[job.purpose], token);
  return job.purpose === "verify_email"
    ? verificationMessage({ to: to.email, name: to.full_name, shop: to.tenant_name, link, validity })
    : resetMessage({ to: to.email, link, validity });
}

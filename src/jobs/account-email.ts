import type pg from "pg";
import type { Task } from "graphile-worker";
import type { MailConfig } from "../config.ts";
import { newOpaqueToken } from "../auth/tokens.ts";
import { withSettings } from "../db/transaction.ts";
import type { Mailer } from "../mail/mailer.ts";
import { accountMessage, emailChangedNotice, LINK_PATHS, validityInWords, type AccountPurpose } from "../mail/messages.ts";

/** The payloads app_private.queue_account_email and confirm_email_change queue. */
type AccountEmailJob =
  | { user_id: number; purpose: AccountPurpose; /** The new address of a change_email. */ email: string | null }
  | { user_id: number; purpose: "email_changed"; /** The old address, told of the new one. */ email: string; new_email: string };

interface Recipient {
  email: string;
  full_name: string | null;
  tenant_name: string;
}

/**
 * The `account_email` task: mints the token and stores its hash (committed before the message
 * leaves, so a link followed at once works), then sends the message. A message that could not be
 * sent fails the job, retried with graphile-worker's backoff and a fresh token; the token of the
 * failed attempt was never seen by anyone and simply expires. Nothing to send (already verified,
 * user gone): done. The notice of a changed address carries no token.
 */
export function accountEmailTask(pool: pg.Pool, mailer: Mailer, mail: MailConfig): Task {
  return async (payload) => {
    const job = payload as AccountEmailJob;
    if (job.purpose === "email_changed") return mailer.send(emailChangedNotice(job.email, job.new_email));
    const { token, hash } = newOpaqueToken();
    const ttl = mail.tokenTtlSeconds[job.purpose];
    const recipient = await withSettings(pool, {}, async (client) => (await client.query<Recipient>(
      "select * from app_private.issue_user_token($1, $2, $3, make_interval(secs => $4), $5)",
      [job.user_id, job.purpose, hash, ttl, job.email ?? null],
    )).rows[0]);
    if (!recipient) return;
    await mailer.send(accountMessage(job.purpose, {
      to: recipient.email, name: recipient.full_name, shop: recipient.tenant_name,
      link: `${mail.appUrl}${LINK_PATHS[job.purpose]}?token=${token}`, validity: validityInWords(ttl),
    }));
  };
}

import type pg from "pg";
import { parseCronItems, type CronItem, type Task } from "graphile-worker";
import type { MailConfig } from "../config/mail.ts";
import { runTransaction } from "../db/transaction.ts";
import type { Mailer } from "../mail/mailer.ts";
import { trialEndedMessage, trialEndingMessage } from "../mail/messages.ts";

/** The payload app_private.queue_billing_email queues: whom to write, about which trial. */
interface BillingEmailJob {
  kind: "trial_ending" | "trial_ended";
  email: string;
  name: string | null;
  shop: string;
  tier: string;
  trial_ends_at: string;
}

/** The page of the application where an admin pays (APP_URL + path). */
export const BILLING_PAGE = "/billing";

/** `billing_email`: a message about a trial (before its end, at its end), composed from the job alone. */
export function billingEmailTask(mailer: Mailer, mail: MailConfig): Task {
  return async (payload) => {
    const job = payload as BillingEmailJob;
    const context = {
      to: job.email,
      name: job.name,
      shop: job.shop,
      tier: job.tier,
      endsAt: job.trial_ends_at,
      link: mail.appUrl + BILLING_PAGE,
    };
    await mailer.send(job.kind === "trial_ending" ? trialEndingMessage(context) : trialEndedMessage(context));
  };
}

/** `billing_clock`: app_private.run_billing_clock now (trials, grace periods, cancellations that end), queuing its messages. */
export function billingClockTask(pool: pg.Pool, reminderDays: number): Task {
  return async () => {
    await runTransaction(pool, {}, (client) =>
      client.query("select app_private.run_billing_clock(now(), make_interval(days => $1))", [reminderDays]),
    );
  };
}

/** The billing clock runs every 10 minutes. Runs missed while no worker ran are not made up one by one: the next run ends all that is due. */
export const BILLING_CRONTAB: CronItem[] = [{ task: "billing_clock", match: "*/10 * * * *", identifier: "billing_clock" }];

export const billingCronItems = () => parseCronItems(BILLING_CRONTAB);

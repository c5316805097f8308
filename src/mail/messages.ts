import type { MailMessage } from "./mailer.ts";

/** The account messages, by purpose; each but the notice carries one link with its token. */
export type AccountPurpose = "verify_email" | "reset_password" | "invitation" | "change_email";

export interface MessageContext {
  to: string;
  name: string | null;
  shop: string;
  /** The link with its token; absent from the notice of a changed address. */
  link: string;
  /** How long the link works, in words ("7 days", "1 hour"). */
  validity: string;
}

/** The page of the application each link opens (APP_URL + path + ?token=…). */
export const LINK_PATHS: Record<AccountPurpose, string> = {
  verify_email: "/verify-email",
  reset_password: "/reset-password",
  invitation: "/accept-invitation",
  change_email: "/confirm-email-change",
};

const WORDING: Record<AccountPurpose, (c: MessageContext) => { subject: string; intro: string; action: string; outro: string }> = {
  verify_email: (c) => ({
    subject: "Confirm your e-mail address",
    intro: `Welcome to Stoflow${c.shop ? `, ${c.shop}` : ""}! Please confirm that this address is yours.`,
    action: "Confirm my address",
    outro: "If you did not create a Stoflow account, ignore this message.",
  }),
  reset_password: () => ({
    subject: "Reset your Stoflow password",
    intro: "Someone (we hope you) asked to reset the password of the Stoflow account of this address.",
    action: "Choose a new password",
    outro: "If it was not you, ignore this message: your password stays as it is. Resetting it signs out every device.",
  }),
  invitation: (c) => ({
    subject: `You are invited to ${c.shop} on Stoflow`,
    intro: `${c.shop} invites you to join their team on Stoflow.`,
    action: "Accept and choose my password",
    outro: "If you did not expect this invitation, ignore this message.",
  }),
  change_email: () => ({
    subject: "Confirm your new e-mail address",
    intro: "Please confirm that this address is the new sign-in address of your Stoflow account.",
    action: "Confirm my new address",
    outro: "If you did not ask for this change, ignore this message: nothing changes until the link is used.",
  }),
};

export function accountMessage(purpose: AccountPurpose, context: MessageContext): MailMessage {
  const { subject, intro, action, outro } = WORDING[purpose](context);
  const hello = `Hello${context.name ? ` ${context.name}` : ""},`;
  const validity = `The link works once, for ${context.validity}.`;
  return {
    to: context.to,
    subject,
    link: context.link,
    text: [hello, "", intro, "", `${action}: ${context.link}`, "", validity, outro, "", "— Stoflow"].join("\n"),
    html: [`<p>${escapeHtml(hello)}</p>`, `<p>${escapeHtml(intro)}</p>`,
      `<p><a href="${escapeHtml(context.link)}">${escapeHtml(action)}</a></p>`,
      `<p>${escapeHtml(validity)} ${escapeHtml(outro)}</p>`, "<p>— Stoflow</p>"].join("\n"),
  };
}

/** The notice sent to the old address once a change of address took effect (no link: nothing to do unless it was not you). */
export function emailChangedNotice(to: string, newEmail: string): MailMessage {
  const text = `Hello,\n\nThe sign-in address of your Stoflow account is now ${newEmail}.\n`
    + "If you did not make this change, reply to this message or contact support at once.\n\n— Stoflow";
  return {
    to, subject: "Your Stoflow sign-in address changed", text,
    html: text.split("\n\n").map((p) => `<p>${escapeHtml(p)}</p>`).join("\n"),
  };
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** "7 days", "1 hour", "30 minutes". */
export function validityInWords(seconds: number): string {
  const [amount, unit] = seconds % 86_400 === 0 ? [seconds / 86_400, "day"]
    : seconds % 3600 === 0 ? [seconds / 3600, "hour"] : [Math.ceil(seconds / 60), "minute"];
  return `${amount} ${unit}${amount === 1 ? "" : "s"}`;
}

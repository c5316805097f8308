import type { MailMessage } from "./mailer.ts";

/** The account messages that carry a link with a token. */
export type AccountPurpose = "verify_email" | "reset_password" | "invitation" | "change_email";

/** The page of the application each link opens (APP_URL + path + ?token=…). */
export const LINK_PATHS = {
  verify_email: "/verify-email",
  reset_password: "/reset-password",
  invitation: "/accept-invitation",
  change_email: "/confirm-email-change",
  /** "This was not me", in the message to the old address of a change. */
  cancel_email_change: "/cancel-email-change",
} as const;

/** How long a name may be in a message; longer ones are cut (with "…"). */
export const MAX_NAME_IN_MAIL = 60;

/**
 * Quotation marks of every script, and what looks like one: initial and final quote punctuation
 * (“ ” ‘ ’ « » ‹ › ‟ ‛ …), low-9 quotes (‚ „), ASCII and typewriter ones (" ' ` ´), primes (′ ″ ‴ ‵ ‶ ‷),
 * CJK corner brackets and double primes (「 」 『 』 〝 〞 〟 and their vertical forms), dingbat and
 * modifier-letter quotes (❛ ❜ ❝ ❞ ❮ ❯ ʹ ʺ ʻ ʼ ʽ ˮ ˝), the low double prime (⹂) and the ornate ones (🙶 🙷 🙸),
 * and marks most fonts draw like a quote: Hebrew geresh and gershayim (׳ ״), the ditto mark (〃),
 * the saltillo (Ꞌ ꞌ) and the Armenian apostrophe and emphasis mark (՚ ՛).
 * Fullwidth forms (＂ ＇) fold to ASCII under NFKC first.
 */
export const QUOTE_MARKS =
  /[\p{Pi}\p{Pf}"'`\u00B4\u201A\u201E\u2032-\u2037\u300C-\u300F\u301D-\u301F\uFE41-\uFE44\u275B-\u275E\u276E\u276F\u02B9-\u02BD\u02EE\u02DD\u2E42\u{1F676}-\u{1F678}\u05F3\u05F4\u3003\uA78B\uA78C\u055A\u055B]+/gu;

/** What a run of quote marks in a name becomes: the modifier letter apostrophe, a letter (L'Atelier reads Lʼatelier), which closes no quotation. */
const NAME_APOSTROPHE = "\u02BC";

/**
 * A name someone typed (a shop's, a person's, an address they asked for), as data in one of our
 * fixed sentences: on one line, at most MAX_NAME_IN_MAIL characters, between quotes, and
 * defanged so that no mail client turns it into a link (dots, "@" and ":" of URLs, domains and
 * addresses become "[.]", "[@]", "[:]": "evil.example" reads "evil[.]example") and that it cannot
 * end our quotation to pass its words off as ours (each run of quote marks, QUOTE_MARKS, becomes
 * one "ʼ"). Compatibility forms (fullwidth dots and quotes, ligatures) are folded first, so they
 * cannot stand in for a dot or a quote.
 */
export function quoted(value: string): string {
  const line = value
    .normalize("NFKC")
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\s]+/gu, " ")
    .replace(QUOTE_MARKS, NAME_APOSTROPHE)
    .trim();
  const capped =
    [...line].length > MAX_NAME_IN_MAIL
      ? `${[...line]
          .slice(0, MAX_NAME_IN_MAIL - 1)
          .join("")
          .trimEnd()}…`
      : line;
  return `“${capped.replace(/[.\u3002\uFF61@:]/g, (c) => `[${c === "@" || c === ":" ? c : "."}]`)}”`;
}

interface Body {
  to: string;
  subject: string;
  /** The reader's own name, when we know it (never a name someone else typed). */
  name?: string | null | undefined;
  paragraphs: string[];
  /** The links, the first being the one action the message asks for. */
  actions: { label: string; link: string }[];
  validity?: string;
}

/** A message in plain text and HTML: fixed sentences, names only through `quoted`, each link on its own. */
function compose({ to, subject, name, paragraphs, actions, validity }: Body): MailMessage {
  const hello = name ? `Hello ${quoted(name)},` : "Hello,";
  const closing = validity ? [`Each link works once, for ${validity}.`] : [];
  const text = [hello, ...paragraphs, ...actions.map((a) => `${a.label}: ${a.link}`), ...closing, "— Stoflow"].join("\n\n");
  const html = [hello, ...paragraphs]
    .map((p) => `<p>${escapeHtml(p)}</p>`)
    .concat(actions.map((a) => `<p><a href="${escapeHtml(a.link)}">${escapeHtml(a.label)}</a></p>`))
    .concat([...closing, "— Stoflow"].map((p) => `<p>${escapeHtml(p)}</p>`))
    .join("\n");
  return { to, subject, text, html, link: actions[0]?.link };
}

export interface LinkContext {
  to: string;
  link: string;
  /** How long the link works, in words ("7 days", "1 hour"). */
  validity: string;
}

/** The welcome message of a new account (and its resending): confirm the address. */
export function verificationMessage(c: LinkContext & { name: string | null; shop: string }): MailMessage {
  return compose({
    to: c.to,
    subject: "Confirm your e-mail address",
    name: c.name,
    validity: c.validity,
    paragraphs: [
      `Welcome to Stoflow! This address was given as the sign-in address of the shop ${quoted(c.shop)}. Please confirm that it is yours.`,
      "If you did not create a Stoflow account, ignore this message.",
    ],
    actions: [{ label: "Confirm my address", link: c.link }],
  });
}

export function resetMessage(c: LinkContext): MailMessage {
  return compose({
    to: c.to,
    subject: "Reset your Stoflow password",
    validity: c.validity,
    paragraphs: [
      "Someone (we hope you) asked to reset the password of the Stoflow account of this address.",
      "If it was not you, ignore this message: your password stays as it is. Resetting it signs out every device.",
    ],
    actions: [{ label: "Choose a new password", link: c.link }],
  });
}

/** An invitation: the subject is ours alone; the shop's name is quoted data in the body. */
export function invitationMessage(c: LinkContext & { shop: string; role: string }): MailMessage {
  return compose({
    to: c.to,
    subject: "You are invited to join a shop on Stoflow",
    validity: c.validity,
    paragraphs: [
      `An admin of the shop ${quoted(c.shop)} invites you to join its team on Stoflow, as ${ROLE_IN_WORDS[c.role] ?? "a member"}.`,
      "If you did not expect this invitation, ignore this message: nothing happens unless you accept it.",
    ],
    actions: [{ label: "Accept and choose my password", link: c.link }],
  });
}

const ROLE_IN_WORDS: Record<string, string> = { admin: "an admin", user: "a user", viewer: "a viewer" };

/**
 * One of the two confirmations of a change of address. The old address also gets "this was
 * not me", which cancels the change and signs out every device.
 */
export function emailChangeMessage(c: LinkContext & { name: string | null; newEmail: string; cancelLink?: string }): MailMessage {
  const atOldAddress = c.cancelLink !== undefined;
  return compose({
    to: c.to,
    name: c.name,
    validity: c.validity,
    subject: atOldAddress ? "Confirm the change of your Stoflow sign-in address" : "Confirm your new e-mail address",
    paragraphs: [
      atOldAddress
        ? `Someone signed in with your password asked to move the sign-in address of your Stoflow account from this address to ${quoted(c.newEmail)}.`
        : "Someone signed in with the password of a Stoflow account asked to make this address its sign-in address.",
      "The change takes effect once both the current and the new address confirm it.",
      ...(atOldAddress
        ? [
            "If it was not you, do not confirm: use the second link, which cancels the change and signs out every device, then change your password.",
          ]
        : []),
    ],
    actions: [{ label: "Confirm the change", link: c.link }, ...(atOldAddress ? [{ label: "This was not me", link: c.cancelLink! }] : [])],
  });
}

/** A billing message of the clock (app_private.run_billing_clock): the trial ends soon, or ended. */
export interface TrialContext {
  to: string;
  name: string | null;
  shop: string;
  tier: string;
  /** When the trial ends (or ended), as SQL gave it. */
  endsAt: string;
  /** Where the admin pays (APP_URL/billing). */
  link: string;
}

/** Before the end (TRIAL_REMINDER_DAYS): pay to keep the tier. */
export function trialEndingMessage(c: TrialContext): MailMessage {
  return compose({
    to: c.to,
    name: c.name,
    subject: "Your Stoflow trial ends soon",
    paragraphs: [
      `The ${quoted(c.tier)} trial of the shop ${quoted(c.shop)} ends on ${dayOf(c.endsAt)}.`,
      "To keep its limits, choose a payment before then. Without one, the shop moves to the free starter tier: nothing is deleted, but items beyond starter's limits cannot be added.",
    ],
    actions: [{ label: "Choose a payment", link: c.link }],
  });
}

/** At the end: the shop is on starter now. */
export function trialEndedMessage(c: TrialContext): MailMessage {
  return compose({
    to: c.to,
    name: c.name,
    subject: "Your Stoflow trial has ended",
    paragraphs: [
      `The ${quoted(c.tier)} trial of the shop ${quoted(c.shop)} ended on ${dayOf(c.endsAt)}, without a payment: the shop is on the free starter tier now.`,
      "Nothing was deleted. While the shop is above starter's limits, new items are refused; pay for a tier to add them again.",
    ],
    actions: [{ label: "Choose a payment", link: c.link }],
  });
}

/** "7 December 2026" (UTC). */
const dayOf = (iso: string) =>
  new Date(iso).toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** "7 days", "1 hour", "30 minutes". */
export function validityInWords(seconds: number): string {
  const [amount, unit] =
    seconds % 86_400 === 0
      ? [seconds / 86_400, "day"]
      : seconds % 3600 === 0
        ? [seconds / 3600, "hour"]
        : [Math.ceil(seconds / 60), "minute"];
  return `${amount} ${unit}${amount === 1 ? "" : "s"}`;
}

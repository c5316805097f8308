import { createHash } from "node:crypto";
import type { Express } from "express";
import { escapeHtml, LINK_PATHS } from "../mail/messages.ts";

/**
 * The pages the links of account messages open, served by this server itself when no
 * application is configured (APP_URL unset: development), so that a developer who clicks the
 * link of a development message completes the flow. Each page posts the link's token, with the
 * fields the person fills in, to the flow's REST route, and says what the answer means. A page
 * never acts on the GET that opens it (mail scanners open links), echoes nothing of its address
 * into the HTML (the token is read by the script), and loads nothing from anywhere.
 */

interface Field {
  name: string;
  label: string;
  autocomplete: string;
}

/** What one link's page does: the API route its form posts to, and with what. */
export interface LinkPage {
  route: string;
  title: string;
  fields: Field[];
  button: string;
  /** What the page says once the route answered 2xx. */
  done: string;
}

const newPassword = (name: string): Field => ({ name, label: "New password (8 characters at least)", autocomplete: "new-password" });

/** Link path → API route → fields. A new link path in src/mail/messages.ts needs its row here (a test checks). */
export const LINK_PAGES: Record<string, LinkPage> = {
  [LINK_PATHS.verify_email]: {
    route: "/api/auth/verify-email",
    title: "Confirm your e-mail address",
    fields: [],
    button: "Confirm my address",
    done: "Your address is verified.",
  },
  [LINK_PATHS.reset_password]: {
    route: "/api/auth/reset-password",
    title: "Choose a new password",
    fields: [newPassword("new_password")],
    button: "Set my new password",
    done: "Your password is changed, and every session ended: sign in with the new password.",
  },
  [LINK_PATHS.invitation]: {
    route: "/api/auth/accept-invitation",
    title: "Join your team on Stoflow",
    fields: [newPassword("password")],
    button: "Accept the invitation",
    done: "Welcome to the team: your password is set, sign in with it.",
  },
  [LINK_PATHS.change_email]: {
    route: "/api/auth/confirm-email-change",
    title: "Confirm the change of your e-mail address",
    fields: [],
    button: "Confirm the change",
    done: "Confirmed.",
  },
  [LINK_PATHS.cancel_email_change]: {
    route: "/api/auth/cancel-email-change",
    title: "Stop this change of address",
    fields: [],
    button: "This was not me: cancel it",
    done: "The change is cancelled and every session ended: sign in again, and change your password if someone else knew it.",
  },
};

/** Reads the token (then takes it out of the address bar), posts it with the fields, shows the answer. */
const SCRIPT = `
const form = document.querySelector("form"), status = document.querySelector("[role=status]");
const token = new URLSearchParams(location.search).get("token");
history.replaceState(null, "", location.pathname);
if (!token) { form.hidden = true; status.textContent = "This link has no token: open the whole link of the message."; }
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  form.querySelector("button").disabled = true;
  try {
    const response = await fetch(form.dataset.route, { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...Object.fromEntries(new FormData(form)), token }) });
    const answer = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (response.ok) form.hidden = true;
    status.textContent = response.ok ? answer.detail ?? form.dataset.done : answer.detail ?? "The server answered " + response.status + ".";
  } catch {
    status.textContent = "The server could not be reached: try again.";
  }
  form.querySelector("button").disabled = false;
});`;
const STYLE =
  "body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}label,input,button{display:block;margin:.5rem 0}input{width:100%}small{color:#666}";

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
const HEADERS = {
  "Content-Security-Policy": `default-src 'none'; script-src ${sha256(SCRIPT)}; style-src ${sha256(STYLE)}; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'`,
  "Cache-Control": "no-store",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
};

function html({ route, title, fields, button, done }: LinkPage): string {
  const inputs = fields.map(
    ({ name, label, autocomplete }) =>
      `<label>${escapeHtml(label)}<input type="password" name="${escapeHtml(name)}" autocomplete="${escapeHtml(autocomplete)}" required></label>`,
  );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Stoflow: ${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1>
<form data-route="${escapeHtml(route)}" data-done="${escapeHtml(done)}">${inputs.join("")}<button type="submit">${escapeHtml(button)}</button></form>
<p role="status"></p>
<p><small>This page is served by the Stoflow API because APP_URL is not set (development): with APP_URL, the links lead to the application's own pages.</small></p>
<script>${SCRIPT}</script></body></html>`;
}

export function serveLinkPages(app: Express): void {
  for (const [path, page] of Object.entries(LINK_PAGES)) {
    const body = html(page);
    app.get(path, (_req, res) => res.set(HEADERS).type("html").send(body));
  }
}

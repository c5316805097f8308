import fs from "node:fs";
import path from "node:path";
import type { AttackRecord, FigureRecord } from "./recorder.ts";

const THREAT_MODEL = `# Security: threat model and attacks tried

This file is written by \`npm run security:report\`, which runs the attack tests (\`test/attacks/\`):
the table below lists every attack they try, how many times, and what happens. Do not edit it by
hand: \`npm test\` fails while it differs from what the attack tests try.

## Threat model

**What we protect:** each tenant's data (products, Vinted data, publication history, AI log, users,
subscription) from every other tenant and from the internet; the accounts (password hashes,
sessions); the service's availability.

**Who attacks:**
- *A hostile tenant* with a valid account and token: tries to read or change another tenant's rows
  through every GraphQL entry point (queries, mutations, relations, aggregates, node ids, cursors,
  filters), to raise its own role, to bypass its tier's limits.
- *The internet* without an account: forges or replays tokens, guesses passwords, sends malformed,
  huge or hostile input (SQL-looking strings, deep or costly queries) to crash, slow or fool the
  server.
- *A thief with a stolen access token* (no password): tries to plant an admin of their own, lock the
  owner out, or delete the tenant before the token expires or the owner resets the password.
- *A tenant that wants a paid tier without paying*, and anyone who posts to the billing webhook:
  forged, replayed, out-of-order events, or events about another tenant's Stripe objects.
- *Faults*: PostgreSQL going away under load, the server dying mid-request.

**Where it is stopped (defence in depth):**
1. The gateway verifies every bearer token (pinned algorithm, expiry, issuer, audience, claim
   shapes) and checks its session is live; any doubt is a 401, never an anonymous request.
2. Each request runs as a database role derived from a whitelist, with its tenant's claims and
   \`search_path\`, in its own transaction.
3. PostgreSQL refuses the rest: row-level security on every table (bound to the tenant), grants
   by role and column, nothing for \`PUBLIC\`, hashes in a schema no API role reads, business
   rules in triggers that lock per tenant.
4. Inputs are parameters, never SQL text; operations are bounded (body size, depth, page size,
   cost, root fields) before planning; errors are masked unless they are actionable.
5. Changes that would hand the tenant to someone else (who is an admin, deleting the tenant) need
   the password again (sudo mode, checked in SQL); a credential event revokes every session, link
   and invitation that hung on the old state, and mail asked for before it is never sent.

## Known limits (measured, kept)

- **Mail fairness under a crowd of addresses.** Mail requests queue at a priority that grows with
  their client address's requests (its first at 0): 40 addresses × 20 anonymous resets for unknown
  addresses (800 jobs) delayed a user's reset by about 94 jobs instead of all 802 (the attacker:
  7–8 s with 60 addresses, 13 s with 150, about 6 ms a job). A crowd sending one request per
  address still delays it by one job per address: ranking by account or tenant would need an
  account lookup when the request comes, which would make its time reveal the account.
- **Invitation shares per (tenant, address).** One tenant cannot use up another's share of
  invitation messages to an address (3 an hour), so an address may get 3 an hour from each tenant
  that invites it; each tenant costs a registration and sends at most 20 invitations an hour.
- **A stolen admin token, without the password,** can still read and export the tenant's data,
  write products, deactivate users and viewers and invite users and viewers (the thief among
  them: an account that manages nobody and shows in the users list) until it expires or the owner
  resets the password.

## Attacks tried
`;

export const REPORT = "docs/security.md";

function cell(text: string | number): string {
  return String(text).replace(/\|/g, "\\|");
}

/** One line of the table; the last column names the test file, so each file can check its own lines. */
function rowOf(r: AttackRecord): string {
  return `| ${cell(r.category)} | ${cell(r.attack)} | ${r.attempts} | ${cell(r.result)} | ${r.file} |`;
}

/** Suffix of the logs of measured figures (the attacks' own logs end in `.ts.jsonl`). */
export const FIGURES_LOG = ".figures.jsonl";

/**
 * The whole report: the table is the same for the same records (no timings, no run counts), and
 * is what `staleness` checks; the figures measured by the last `npm run security:report` follow it.
 */
function renderReport(records: AttackRecord[], figures: FigureRecord[]): string {
  const rows = records.map(rowOf).sort();
  return `${THREAT_MODEL}
Every attack below was refused or neutralised as stated: nothing leaked, nothing lost.

| category | attack | attempts | result | test |
|---|---|---|---|---|
${rows.join("\n")}
${
  figures.length === 0
    ? ""
    : `
## Figures measured by the last report

Measured on the machine that ran \`npm run security:report\` (attackers included), so they vary
from run to run; the table above states what every run must hold.

| test | attack | figures |
|---|---|---|
${figures
  .map((f) => `| ${f.file} | ${cell(f.attack)} | ${cell(f.figures)} |`)
  .sort()
  .join("\n")}
`
}`;
}

function readLogs<T>(logDir: string, logs: string[]): T[] {
  return logs.flatMap((log) =>
    fs
      .readFileSync(path.join(logDir, log), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as T),
  );
}

/** Writes the report from the attack logs of a run, when every attack file has reported. */
export function writeSecurityReport(logDir: string, attackFiles: string[], target = REPORT): boolean {
  const logs = fs.existsSync(logDir) ? fs.readdirSync(logDir) : [];
  // Files that record no attack (bcrypt-priority.test.ts measures threads) have nothing to list.
  const recording = attackFiles.filter((file) => fs.readFileSync(path.join("test/attacks", file), "utf8").includes("recordAttack("));
  const missing = recording.filter((file) => !logs.includes(`${file}.jsonl`));
  if (missing.length > 0) console.error(`no attacks recorded by ${missing.join(", ")}`);
  if (missing.length > 0) return false;
  const figureLogs = logs.filter((log) => log.endsWith(FIGURES_LOG));
  const records = readLogs<AttackRecord>(
    logDir,
    logs.filter((log) => !figureLogs.includes(log)),
  );
  fs.writeFileSync(target, renderReport(records, readLogs<FigureRecord>(logDir, figureLogs)));
  return true;
}

/** Why the committed report does not say what `file` tried (its records), or undefined when it does. */
export function staleness(file: string, records: AttackRecord[], target = REPORT): string | undefined {
  const text = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : "";
  if (!text.startsWith(THREAT_MODEL)) return `its threat model is not the one in test/attacks/report.ts`;
  const listed = text
    .split("\n")
    .filter((line) => line.endsWith(` | ${file} |`))
    .sort();
  const tried = records.map(rowOf).sort();
  const missing = tried.filter((row) => !listed.includes(row));
  const gone = listed.filter((row) => !tried.includes(row));
  if (missing.length === 0 && gone.length === 0) return undefined;
  return [...missing.map((row) => `tried but not listed: ${row}`), ...gone.map((row) => `listed but not tried: ${row}`)].join("\n");
}

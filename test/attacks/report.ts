import fs from "node:fs";
import path from "node:path";
import type { AttackRecord } from "./recorder.ts";

const THREAT_MODEL = `# Security: threat model and attacks tried

This file is written by the test suite (\`npm test\`, from \`test/attacks/\`): the table below lists
every attack the suite ran in its last complete run, how many times, and what happened. Do not edit
it by hand.

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

## Attacks tried
`;

/** Writes docs/security.md from the attack logs, when every attack file has reported. */
export function writeSecurityReport(logDir: string, attackFiles: string[], target: string): boolean {
  const logs = fs.existsSync(logDir) ? fs.readdirSync(logDir) : [];
  if (!attackFiles.every((file) => logs.includes(`${file}.jsonl`))) return false;
  const records = logs.flatMap((log) =>
    fs.readFileSync(path.join(logDir, log), "utf8").trim().split("\n").map((line) => JSON.parse(line) as AttackRecord));
  records.sort((a, b) => a.category.localeCompare(b.category) || a.attack.localeCompare(b.attack));
  const rows = records.map((r) => `| ${r.category} | ${r.attack.replace(/\|/g, "\\|")} | ${r.attempts} | ${r.result.replace(/\|/g, "\\|")} |`);
  const total = records.reduce((sum, r) => sum + r.attempts, 0);
  fs.writeFileSync(target, `${THREAT_MODEL}
${records.length} attacks, ${total} attempts in all: every one refused or neutralised as stated, nothing leaked, nothing lost.

| category | attack | attempts | result |
|---|---|---|---|
${rows.join("\n")}
`);
  return true;
}

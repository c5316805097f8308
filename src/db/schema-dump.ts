import fs from "node:fs";
import type pg from "pg";

/** Where the dump is committed: reviewers read its diff beside each migration. */
export const SCHEMA_DUMP_FILE = "data/schema.sql";

const QUERY = fs.readFileSync(new URL("./schema-dump.sql", import.meta.url), "utf8");
const SECTIONS = [
  "",
  "Roles",
  "Schemas and extensions",
  "Types",
  "Tables and views",
  "Constraints, indexes, row-level security, policies, triggers",
  "Functions",
  "Privileges",
  "Comments",
];
const HEADER = `-- Stoflow's database as the migrations leave it (committed ones, then migrations/current.sql):
-- the shared schemas, the tenant template every client_<id> copies, roles, grants, policies and
-- comments. Written by \`npm run db:dump\` and after every migration of \`npm run db\`; a test fails
-- while it is stale. Read it; never edit it (change migrations/current.sql instead).`;

/** The schema-only dump of the database behind `client`, as text (src/db/schema-dump.sql). */
export async function dumpSchema(client: pg.ClientBase | pg.Pool): Promise<string> {
  const { rows } = await client.query<{ section: number; statement: string }>(QUERY);
  const parts = [HEADER];
  rows.forEach(({ section, statement }, i) => {
    if (rows[i - 1]?.section !== section) parts.push(`-- ${SECTIONS[section]}`);
    parts.push(statement);
  });
  return parts.join("\n\n") + "\n";
}

import fs from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dumpSchema, SCHEMA_DUMP_FILE } from "../../src/db/schema-dump.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

describe("data/schema.sql, the database as the migrations leave it", () => {
  it("matches a dump of a database built from the migrations (run `npm run db:dump` after a change)", async () => {
    expect(await dumpSchema(db.owner)).toBe(await fs.readFile(SCHEMA_DUMP_FILE, "utf8"));
  });

  it("shows what a reviewer looks for: tables, policies, grants, functions and their comments", async () => {
    const dump = await dumpSchema(db.owner);
    for (const expected of [
      "create table tenant_template.products (",
      "alter table tenant_template.products enable row level security;",
      "create policy",
      "grant select",
      "CREATE OR REPLACE FUNCTION app_private.",
      "comment on table public.tenants is",
    ]) expect(dump).toContain(expected);
    expect(dump).not.toMatch(/client_\d+\./);
  });
});

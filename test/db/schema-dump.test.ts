import fs from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dumpSchema, SCHEMA_DUMP_FILE } from "../../src/db/schema-dump.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { staleFileAdvice } from "../helpers/stale.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

describe("data/schema.sql, the database as the migrations leave it", () => {
  it("matches a dump of a database built from the migrations (run `npm run db:dump` after a change)", async () => {
    const [built, committed] = [await dumpSchema(db.owner), await fs.readFile(SCHEMA_DUMP_FILE, "utf8")];
    expect(committed, staleFileAdvice(SCHEMA_DUMP_FILE, committed, built, "npm run db:dump")).toBe(built);
  });

  it("says to rebuild the development database when the file holds what the migrations do not make", () => {
    const built = "create table public.a (\n  id integer\n);\n";
    expect(staleFileAdvice("data/schema.sql", built.replace("id integer", "id bigint"), built, "npm run db:dump")).toBe(
      'data/schema.sql holds 1 lines the migrations do not produce (first: "  id bigint"): your development database keeps what an earlier ' +
        "current.sql made. Rebuild it from the migrations with `npm run db -- rebuild --yes` (it drops its tenants), then run `npm run db:dump`",
    );
    expect(staleFileAdvice("data/schema.sql", "", built, "npm run db:dump")).toBe("data/schema.sql is stale: run `npm run db:dump`");
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
    ])
      expect(dump).toContain(expected);
    expect(dump).not.toMatch(/client_\d+\./);
  });
});

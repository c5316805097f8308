import { afterAll, beforeAll, expect, it } from "vitest";
import { EMAIL } from "../../src/auth/inputs.ts";
import { createTestDatabase, expectPgError, registerTenant, type TestDatabase } from "../helpers/db.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

it("checks e-mail addresses with one pattern: the gateway's input check and app_private.is_email_address agree", async () => {
  const { rows } = await db.owner.query("select prosrc from pg_proc where oid = 'app_private.is_email_address(text)'::regprocedure");
  expect(rows[0].prosrc).toContain(`'${EMAIL.source.replaceAll("'", "''")}'`);
  const samples = [
    "lou@example.com",
    "a@b.co",
    "o'brien+shop@example.co.uk",
    "x_y-z.w@sub-domain.example.test",
    "no-at.example.com",
    "two@@example.com",
    "spa ce@example.com",
    "nodot@example",
    "@example.com",
    "a@example.com<postmaster>",
    "Lou <lou@example.com>",
    "lou@example.com (comment)",
    "@route:lou@example.com",
    '"quoted"@example.com',
    "lou@[127.0.0.1]",
    "lou@-example.com",
    "lou@example-.com",
    "lou@example..com",
    "lou@exa_mple.com",
    "lou@example.com\n",
    "lou@exämple.com",
  ];
  const { rows: checked } = await db.owner.query("select s, app_private.is_email_address(s) as ok from unnest($1::text[]) s", [samples]);
  expect(checked.map((r) => r.ok)).toEqual(samples.map((s) => EMAIL.test(s)));
});

it("refuses a malformed e-mail on tenants and on users alike", async () => {
  const shop = await registerTenant(db.app, "Mail Shop", "mail@shop.test");
  await expectPgError(
    db.owner.query("update tenants set email = 'not an address' where id = $1", [shop.tenant_id]),
    "23514",
    /tenants_email_check/,
  );
  await expectPgError(db.owner.query("update users set email = 'not an address' where id = $1", [shop.sub]), "23514", /users_email_check/);
});

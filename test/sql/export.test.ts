import { afterAll, beforeAll, expect, it } from "vitest";
import { asSession, createTestDatabase, registerTenant, userSession, type TestDatabase } from "../helpers/db.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

it("exports a tenant table a DDL step adds, without anyone listing it in export_tenant_data", async () => {
  await db.owner.query(`select app_private.add_tenant_ddl_step('test fixture: zz_fixture_notes table', $step$
    create table if not exists {schema}.zz_fixture_notes (id int generated always as identity primary key, body text not null);
    comment on table {schema}.zz_fixture_notes is 'A seller''s notes.';
  $step$)`);
  const shop = await registerTenant(db.app, "Notes Shop", "notes@export.test");
  await db.owner.query(`insert into client_${shop.tenant_id}.zz_fixture_notes (body) values ('call the courier')`);
  const { rows } = await asSession(db.app, userSession(shop), async (c) => {
    await c.query("select set_config('stoflow.export_max_bytes', '0', true)"); // no bound (the server sets one for every request)
    return c.query("select public.export_tenant_data() as doc");
  });
  expect(rows[0].doc.zz_fixture_notes).toEqual([{ id: 1, body: "call the courier" }]);
  expect(Object.keys(rows[0].doc)).toEqual(
    expect.arrayContaining(["products", "vinted_products", "publications_history", "ai_generations_log"]),
  );
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANONYMOUS_PG_ROLE, API_PG_ROLES, APP_ROLES, AUTH_PG_ROLE } from "../../src/auth/roles.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

describe("the roles module and SQL", () => {
  it("names the app roles of public.user_role, in its order", async () => {
    const { rows } = await db.owner.query(
      "select array_agg(r order by r)::text[] as roles from unnest(enum_range(null::public.user_role)) r",
    );
    expect(rows[0].roles).toEqual([...APP_ROLES]);
  });

  it("names PostgreSQL roles the server's login role may switch to", async () => {
    const { rows } = await db.owner.query(
      "select r.rolname from pg_roles r where pg_has_role('stoflow_authenticator', r.oid, 'member') and not r.rolcanlogin order by 1",
    );
    expect(rows.map((r) => r.rolname)).toEqual(expect.arrayContaining([...API_PG_ROLES, AUTH_PG_ROLE]));
    expect(API_PG_ROLES).toContain(ANONYMOUS_PG_ROLE);
  });

  it("gives a new user a role of the list when none is given (the column's default)", async () => {
    const { rows } = await db.owner.query(
      "select pg_get_expr(d.adbin, d.adrelid) as expr from pg_attrdef d join pg_attribute a on (a.attrelid, a.attnum) = (d.adrelid, d.adnum) where d.adrelid = 'public.users'::regclass and a.attname = 'role'",
    );
    expect(APP_ROLES).toContain(/^'(\w+)'/.exec(rows[0].expr)![1]);
  });
});

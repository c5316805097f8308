import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

/** Runs the operator CLI against the test database, as an operator would. */
function stoflow(...args: string[]) {
  const result = spawnSync(process.execPath, ["src/cli/stoflow.ts", ...args], {
    env: { ...process.env, DATABASE_URL: db.appUrl, DATABASE_OWNER_URL: db.ownerUrl, BCRYPT_COST: "4", ENV_FILE: "/nonexistent" },
    encoding: "utf8",
  });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

describe("npm run stoflow", () => {
  it("explains itself: --help exits 0, wrong usage and unknown flags exit 2", () => {
    const none = stoflow();
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/usage: npm run stoflow -- <command>/);
    expect(none.err).toMatch(/tenants:check/);
    expect(stoflow("tenants:create", "--help")).toMatchObject({ code: 0, err: expect.stringMatching(/--name <name> --email <email>/) });
    expect(stoflow("tenants:list", "--jsn")).toMatchObject({ code: 2, err: expect.stringMatching(/--jsn/) });
    expect(stoflow("tenants:export", "abc").code).toBe(2);
  });

  it("creates, lists, checks, exports and deletes a tenant", async () => {
    const created = stoflow("tenants:create", "--name", "CLI Shop", "--email", "cli@shop.test", "--password", "cli password");
    expect(created.code, created.err).toBe(0);
    const { tenant_id: id, schema } = JSON.parse(created.out);
    expect(schema).toBe(`client_${id}`);

    const listed = JSON.parse(stoflow("tenants:list", "--json").out);
    expect(listed).toContainEqual(expect.objectContaining({ id, name: "CLI Shop", tier: "starter", schema }));
    expect(listed.every((t: { version: number; latest: number }) => t.version === t.latest)).toBe(true);

    expect(stoflow("tenants:check").code).toBe(0);
    await db.owner.query(`alter table ${schema}.products add column stray int`);
    const drift = stoflow("tenants:check");
    expect(drift.code).toBe(1);
    expect(drift.out).toMatch(new RegExp(`^${schema} +unexpected +column products.stray integer$`, "m"));
    await db.owner.query(`alter table ${schema}.products drop column stray`);

    const exported = stoflow("tenants:export", String(id));
    expect(JSON.parse(exported.out).tenant.name).toBe("CLI Shop");

    expect(stoflow("tenants:delete", String(id)).code).toBe(2);
    expect(stoflow("tenants:delete", String(id), "--yes").code).toBe(0);
    expect((await db.owner.query("select count(*)::int as n from tenants where id = $1", [id])).rows[0].n).toBe(0);
    expect(stoflow("tenants:migrate").code).toBe(0);
  });
});

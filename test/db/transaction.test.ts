import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTransaction } from "../../src/db/transaction.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

describe("runTransaction opens the transaction and applies settings in one round trip", () => {
  it("keeps values with quotes and backslashes exactly, local to the transaction", async () => {
    const tricky = "it's a \\ value'; select 1; --";
    const seen = await runTransaction(
      db.app,
      { "jwt.claims.note": tricky, role: "stoflow_anonymous" },
      async (client) => (await client.query("select current_setting('jwt.claims.note') as note, current_user as who")).rows[0],
    );
    expect(seen).toEqual({ note: tricky, who: "stoflow_anonymous" });
    const after = await db.app.query("select current_setting('jwt.claims.note', true) as note, current_user as who");
    expect(after.rows[0].note ?? "").toBe("");
    expect(after.rows[0].who).toBe("stoflow_authenticator");
  });

  it("sends one statement before the work and one after it, and lets SQL put the claimed tenant's schema on the search_path", async () => {
    const sent: string[] = [];
    const record = (client: import("pg").PoolClient) => {
      const query = client.query.bind(client) as (text: string) => Promise<unknown>;
      (client as unknown as { query: unknown }).query = (text: string) => {
        sent.push(text);
        return query(text);
      };
    };
    db.app.once("acquire", record);
    const searchPath = await runTransaction(
      db.app,
      { role: "stoflow_anonymous", "jwt.claims.tenant_id": "7" },
      async (client) => (await client.query("select current_setting('search_path') as path")).rows[0].path,
    );
    expect(sent).toEqual([
      `begin; select app_private.open_transaction('[["role","stoflow_anonymous"],["jwt.claims.tenant_id","7"]]', false)`,
      "select current_setting('search_path') as path",
      "commit",
    ]);
    expect(searchPath).toBe("client_7, public");
  });
});

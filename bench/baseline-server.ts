import express from "express";
import pg from "pg";
import { pgSettingsFor } from "../src/graphql/context.ts";
import { verifyAccessToken } from "../src/auth/tokens.ts";
import { readServerConfig } from "../src/config/server.ts";
import { openingStatement } from "../src/db/transaction.ts";

/**
 * The hand-written baseline, as a competent developer would write it: verify the JWT, then ONE
 * simple-query round trip that opens the transaction, applies the same settings the gateway
 * applies and checks the session is still live (app_private.require_live_session, as the gateway
 * does); then the SQL; then COMMIT. It does what the gateway's security does, so the comparison is fair.
 */
const config = readServerConfig();
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: config.poolSize });

async function asTenant<T>(authorization: string | undefined, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const claims = verifyAccessToken(config.jwt, (authorization ?? "").replace(/^Bearer /, ""));
  const client = await pool.connect();
  try {
    await client.query(openingStatement(pgSettingsFor(claims)));
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

const app = express();
app.use(express.json());
app.get("/products", async (req, res, next) => {
  try {
    const rows = await asTenant(req.headers.authorization, (c) =>
      c.query({ name: "read", text: "select sku, title, price from products order by sku limit 20" }),
    );
    res.json({ data: { products: { nodes: rows.rows } } });
  } catch (error) {
    next(error);
  }
});
app.post("/products", async (req, res, next) => {
  try {
    const sku = String((req.body as { sku?: unknown }).sku);
    const row = await asTenant(req.headers.authorization, async (c) => {
      await c.query({ name: "create", text: "insert into products (sku, title, price) values ($1, 'Bench item', 10)" }, [sku]);
      return c.query<{ sku: string; price: string }>(
        { name: "update", text: "update products set price = 11 where sku = $1 returning sku, price" },
        [sku],
      );
    });
    res.json({ data: row.rows[0] });
  } catch (error) {
    next(error);
  }
});
app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
  res.status(500).json({ error: error.message });
});
app.listen(Number(process.env.PORT), () => console.log("baseline ready"));

import express from "express";
import pg from "pg";
import { pgSettingsFor } from "../src/auth/pg-settings.ts";
import { verifyAccessToken } from "../src/auth/tokens.ts";
import { readServerConfig } from "../src/config.ts";
import { withSettings } from "../src/db/transaction.ts";

/**
 * The hand-written baseline: Express + pg doing what the gateway does for one tenant read or
 * write (verify the JWT, BEGIN, the same set_config, the same SQL, COMMIT), and nothing else.
 */
const config = readServerConfig();
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: config.poolSize });
function asTenant<T>(authorization: string | undefined, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const session = verifyAccessToken(config.jwt, (authorization ?? "").replace(/^Bearer /, ""));
  return withSettings(pool, pgSettingsFor(session), work);
}

const app = express();
app.use(express.json());
app.get("/products", async (req, res) => {
  const rows = await asTenant(req.headers.authorization, (c) =>
    c.query({ name: "read", text: "select sku, title, price from products order by sku limit 20" }));
  res.json({ data: { products: { nodes: rows.rows } } });
});
app.post("/products", async (req, res) => {
  const sku = String(req.body.sku);
  const row = await asTenant(req.headers.authorization, async (c) => {
    await c.query({ name: "create", text: "insert into products (sku, title, price) values ($1, 'Bench item', 10)" }, [sku]);
    return c.query({ name: "update", text: "update products set price = 11 where sku = $1 returning sku, price" }, [sku]);
  });
  res.json({ data: row.rows[0] });
});
app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
  res.status(500).json({ error: error.message });
});
app.listen(Number(process.env.PORT), () => console.log("baseline ready"));

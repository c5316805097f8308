import express from "express";
import pg from "pg";
import { pgSettingsFor } from "../src/auth/pg-settings.ts";
import { verifyAccessToken } from "../src/auth/tokens.ts";
import { readServerConfig } from "../src/config.ts";

/**
 * The hand-written baseline: Express + pg doing what the gateway does for one tenant read or
 * write (verify the JWT, BEGIN, the same set_config, the same SQL, COMMIT), and nothing else.
 */
const config = readServerConfig();
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: config.poolSize });
const SETTINGS_SQL = "select set_config('role', $1, true), set_config('jwt.claims.user_id', $2, true), "
  + "set_config('jwt.claims.tenant_id', $3, true), set_config('jwt.claims.role', $4, true), set_config('search_path', $5, true)";

async function asTenant<T>(authorization: string | undefined, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const session = verifyAccessToken(config.jwt, (authorization ?? "").replace(/^Bearer /, ""));
  const settings = pgSettingsFor(session);
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query(SETTINGS_SQL, [settings.role, settings["jwt.claims.user_id"], settings["jwt.claims.tenant_id"], settings["jwt.claims.role"], settings.search_path]);
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
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

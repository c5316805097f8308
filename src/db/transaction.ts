import type pg from "pg";

/**
 * Runs `work` in one transaction on one pooled connection, with `settings` applied first in one
 * statement, local to the transaction (as PostGraphile applies pgSettings: role, claims,
 * search_path). Commits on success; on an error, commits when `commitOn(error)` says the error is
 * a decision whose cause must be kept, else rolls back.
 */
export async function withSettings<T>(
  pool: pg.Pool,
  settings: Record<string, string>,
  work: (client: pg.PoolClient) => Promise<T>,
  commitOn: (error: unknown) => boolean = () => false,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const names = Object.keys(settings);
    if (names.length > 0) {
      const calls = names.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`);
      await client.query(`select ${calls.join(", ")}`, Object.entries(settings).flat());
    }
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    // After an SQL error the transaction is aborted: its commit is a rollback.
    await client.query(commitOn(error) ? "commit" : "rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

import http from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/express/v4";
import { createAuthService } from "./auth/service.ts";
import type { ServerConfig } from "./config.ts";
import { introspectWithoutTenantSchemas } from "./graphql/introspection.ts";
import { makePreset } from "./graphql/preset.ts";
import { createApp } from "./http/app.ts";
import { errorResponder } from "./http/errors.ts";

export const VERSION = "0.1.0";

export interface Gateway {
  url: string;
  pool: pg.Pool;
  close(): Promise<void>;
}

/** Builds the GraphQL schema once, then serves HTTP on `config.port` (0: any free port). */
export async function startGateway(appUrl: string, config: ServerConfig): Promise<Gateway> {
  const pool = new pg.Pool({ connectionString: appUrl, max: config.poolSize, maxLifetimeSeconds: config.poolMaxLifetimeSeconds });
  // A connection lost while idle (pool) or checked out (a request in flight) must not crash the
  // process: the request in flight fails on its own and gets a 503.
  pool.on("error", (error) => console.error("idle database connection lost:", error.message));
  pool.on("connect", (client) => client.on("error", (error) => console.error("database connection lost:", error.message)));
  introspectWithoutTenantSchemas(pool);
  const auth = createAuthService({ pool, jwt: config.jwt, bcryptCost: config.bcryptCost });
  const app = createApp({ pool, auth, corsOrigins: config.corsOrigins, version: VERSION });
  const server = http.createServer(app);
  const pgl = postgraphile(makePreset(pool, auth));
  await pgl.createServ(grafserv).addTo(app, server);
  app.use((_req, res) => res.status(404).json({ detail: "Not found", code: "NOT_FOUND" }));
  app.use(errorResponder);
  await new Promise<void>((resolve) => server.listen(config.port, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    pool,
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeIdleConnections();
      await closed;
      await pgl.release();
      await pool.end();
    },
  };
}

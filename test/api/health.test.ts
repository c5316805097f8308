import { afterAll, describe, expect, it } from "vitest";
import { prepareDatabase } from "../../src/db/database.ts";
import { startGateway } from "../../src/server.ts";
import { ownEmbeddedConfig, removeOwnClusters } from "../helpers/embedded.ts";
import { graphql, http, signUp, startTestGateway, testServerConfig } from "../helpers/gateway.ts";

afterAll(removeOwnClusters);

describe("/health with the database down and back", () => {
  it("answers 503 while PostgreSQL is stopped and recovers without a restart", async () => {
    const dbConfig = await ownEmbeddedConfig();
    let database = await prepareDatabase(dbConfig, () => {});
    const gateway = await startGateway(database.appUrl,
      testServerConfig());
    try {
      const user = await signUp(gateway.url);
      expect((await http(gateway.url, "GET", "/health")).status).toBe(200);

      await database.stop();
      const down = await http(gateway.url, "GET", "/health");
      expect(down).toMatchObject({ status: 503, body: { status: "unavailable", database: "unreachable" } });
      const rest = await http(gateway.url, "GET", "/api/auth/session", { token: user.access_token });
      expect(rest).toMatchObject({ status: 503, body: { code: "UNAVAILABLE" } });
      const login = await http(gateway.url, "POST", "/api/auth/login", { body: { email: user.email, password: user.password } });
      expect(login.status).toBe(503);
      const anonymous = await graphql(gateway.url, "{ tiers { totalCount } }");
      expect(anonymous.body.errors?.[0]?.extensions?.code).toBe("UNAVAILABLE");

      database = await prepareDatabase(dbConfig, () => {});
      expect((await http(gateway.url, "GET", "/health")).status).toBe(200);
      const back = await graphql(gateway.url, "{ products { totalCount } }", {}, user.access_token);
      expect(back.body).toEqual({ data: { products: { totalCount: 0 } } });
    } finally {
      await gateway.close();
      await database.stop();
    }
  });
});

describe("CORS", () => {
  it("answers allowed origins only", async () => {
    const gw = await startTestGateway({ CORS_ORIGINS: "https://app.stoflow.test, https://admin.stoflow.test" });
    try {
      const preflight = (origin: string) => fetch(`${gw.url}/graphql`, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
      });
      const allowed = await preflight("https://app.stoflow.test");
      expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.stoflow.test");
      expect(allowed.headers.get("access-control-allow-headers")).toMatch(/authorization/i);
      const denied = await preflight("https://evil.test");
      expect(denied.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await gw.close();
    }
  });
});

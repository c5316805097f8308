import parsePrometheus from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readServerConfig } from "../../src/config/server.ts";
import { createLogger } from "../../src/logger.ts";
import { startGateway } from "../../src/server.ts";
import { http, signUp, startTestGateway, TEST_JWT_SECRET, configOver, type TestGateway } from "../helpers/gateway.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw.close());

describe("structured logs", () => {
  it("write one JSON line per request with its request id, and never a credential", async () => {
    const lines: string[] = [];
    const logger = createLogger({ write: (line: string) => lines.push(line) }, "info");
    const logged = await startGateway(gw.db.appUrl, configOver(gw.db), { logger });
    try {
      const user = await signUp(logged.url, "Logged Shop");
      await http(logged.url, "POST", "/api/auth/login", { body: { email: user.email, password: user.password } });
      await http(logged.url, "POST", "/api/auth/login", { body: { email: user.email, password: "wrong password here" } });
      const mine = await http(logged.url, "GET", "/api/auth/session", {
        token: user.access_token,
        headers: { "x-request-id": "trace-42" },
      });
      expect(mine.headers.get("x-request-id")).toBe("trace-42");
      await graphqlAsUser(logged.url, user.access_token);
    } finally {
      await logged.close();
    }
    const entries = lines.map((line) => JSON.parse(line));
    const requests = entries.filter((e) => e.req);
    expect(requests.length).toBeGreaterThanOrEqual(5);
    expect(requests.every((e) => typeof e.req.id === "string" && e.req.id.length > 0 && typeof e.res.statusCode === "number")).toBe(true);
    expect(requests.map((e) => e.req.id)).toContain("trace-42");
    const text = lines.join("\n");
    expect(text).not.toMatch(/correct horse battery|wrong password here|eyJ[A-Za-z0-9_-]{10,}|\$2[aby]\$/);
  });
});

describe("logs under a flood", () => {
  it(
    "count the 429 and 503 answers of a flood, and the 404s of paths that do not exist, in one warning each per 10 s instead of a line each",
    { timeout: 60_000 },
    async () => {
      const lines: string[] = [];
      const logger = createLogger({ write: (line: string) => lines.push(line) }, "info");
      const env = {
        TRUST_PROXY: "loopback",
        HTTP_CLIENT_CONCURRENCY: "1",
        HTTP_CLIENT_QUEUE: "0",
        HTTP_SERVER_CONCURRENCY: "1",
        HTTP_SERVER_QUEUE: "0",
      };
      const logged = await startGateway(gw.db.appUrl, configOver(gw.db, env), { logger });
      const statuses: number[] = [];
      try {
        const query = (address: string) =>
          http(logged.url, "POST", "/graphql", { body: { query: "{ tiers { totalCount } }" }, headers: { "x-forwarded-for": address } });
        for (let round = 0; round < 3; round++) {
          const answers = await Promise.all([
            ...Array.from({ length: 20 }, () => query("203.0.113.1")),
            ...Array.from({ length: 20 }, (_, i) => query(`203.0.113.${i + 10}`)),
          ]);
          statuses.push(...answers.map((a) => a.status));
        }
        const scans = await Promise.all(Array.from({ length: 30 }, (_, i) => http(logged.url, "GET", `/wp-admin/${i}.php`)));
        expect(scans.every((scan) => scan.status === 404)).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 10_500));
      } finally {
        await logged.close();
      }
      const entries = lines.map((line) => JSON.parse(line));
      const refusals = statuses.filter((status) => status === 429 || status === 503).length;
      expect(statuses.filter((status) => status === 429).length).toBeGreaterThan(0);
      expect(statuses.filter((status) => status === 503).length).toBeGreaterThan(0);
      expect(entries.filter((e) => e.res && (e.res.statusCode === 429 || e.res.statusCode === 503))).toEqual([]);
      const summaries = entries.filter((e) => e.msg === "requests refused under load");
      expect(summaries).toHaveLength(1);
      expect(Object.values(summaries[0].refused as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(refusals);
      expect(summaries[0].level).toBe(40);
      expect(entries.filter((e) => e.req?.url?.startsWith("/wp-admin/"))).toEqual([]);
      expect(entries.filter((e) => e.msg === "requests for paths that do not exist").map((e) => e.notFound)).toEqual([{ 404: 30 }]);
    },
  );
});

async function graphqlAsUser(url: string, token: string) {
  return http(url, "POST", "/graphql", { body: { query: "{ products { totalCount } }" }, token });
}

describe("operations endpoints", () => {
  it("/ready is 200 when migrated and lists the tenants whose schema misses a DDL step; those get TENANT_MAINTENANCE", async () => {
    const shop = await signUp(gw.url, "Ready Shop");
    expect(await http(gw.url, "GET", "/ready")).toMatchObject({ status: 200, body: { status: "ready" } });
    await gw.db.owner.query(
      "select app_private.add_tenant_ddl_step('test fixture: ready probe', 'comment on table {schema}.products is ''Products.''')",
    );
    const ready = await http(gw.url, "GET", "/ready");
    expect(ready).toMatchObject({ status: 200, body: { status: "ready", tenant_schemas_behind: expect.any(Number) } });
    expect(ready.body.lagging_tenants).toContain(shop.tenant.id);
    const lagging = await graphqlAsUser(gw.url, shop.access_token);
    expect(lagging).toMatchObject({ status: 503, body: { errors: [{ extensions: { code: "TENANT_MAINTENANCE" } }] } });
    expect(lagging.headers.get("retry-after")).toBe("60");
    const { applyPendingTenantSteps } = await import("../../src/db/tenant-migrations.ts");
    await applyPendingTenantSteps(gw.db.owner, 10);
    const current = await http(gw.url, "GET", "/ready");
    expect(current).toMatchObject({ status: 200, body: { status: "ready" } });
    expect(current.body.lagging_tenants).toBeUndefined();
    expect((await graphqlAsUser(gw.url, shop.access_token)).status).toBe(200);
  });

  it("/metrics is Prometheus text with requests, latency, pool use, auth failures and tenants", async () => {
    await http(gw.url, "GET", "/api/auth/session", { token: "not-a-token" });
    await http(gw.url, "GET", "/health");
    const response = await fetch(`${gw.url}/metrics`);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
    const families = parsePrometheus(await response.text());
    const family = (name: string) => families.find((f) => f.name === name);
    expect(family("stoflow_http_requests_total")?.metrics).toContainEqual(
      expect.objectContaining({ labels: { route: "/health", method: "GET", status: "200" } }),
    );
    expect(family("stoflow_http_request_duration_seconds")?.type).toBe("HISTOGRAM");
    expect(
      family("stoflow_db_pool_connections")
        ?.metrics.map((m) => m.labels?.state)
        .sort(),
    ).toEqual(["idle", "total", "waiting"]);
    expect(family("stoflow_auth_failures_total")?.metrics).toContainEqual(expect.objectContaining({ labels: { code: "INVALID_TOKEN" } }));
    const { rows } = await gw.db.owner.query("select count(*)::int as n from tenants");
    expect(Number(family("stoflow_tenants")?.metrics[0]?.value)).toBe(rows[0].n);
    expect(
      family("stoflow_http_requests_total")?.metrics.every(
        (m) =>
          ["/graphql", "/health", "/ready", "/metrics", "/", "unmatched"].includes(m.labels!.route) ||
          m.labels!.route.startsWith("/api/auth/"),
      ),
    ).toBe(true);
  });

  it("refuses a port that is taken with a clear message", async () => {
    const port = Number(new URL(gw.url).port);
    await expect(startGateway(gw.db.appUrl, configOver(gw.db, { PORT: String(port), PROBE_PORT: String(port + 1) }))).rejects.toThrow(
      `Port ${port} is already in use: stop the other server or set PORT`,
    );
  });

  it("turns the explorer off in production unless asked for, and advertises only what it serves", async () => {
    const prod = await startGateway(gw.db.appUrl, configOver(gw.db, { NODE_ENV: "production" }));
    try {
      expect((await fetch(`${prod.url}/graphiql`, { headers: { accept: "text/html" } })).status).toBe(404);
      const root = (await http(prod.url, "GET", "/")).body;
      expect(root).toEqual({
        message: "Stoflow API",
        version: expect.any(String),
        graphql: "/graphql",
        health: "/health",
        docs: "/docs",
        openapi: "/openapi.json",
      });
      for (const link of Object.values(root).filter((value): value is string => typeof value === "string" && value.startsWith("/"))) {
        expect((await fetch(`${prod.url}${link}`, { method: link === "/graphql" ? "POST" : "GET" })).status, link).not.toBe(404);
      }
      expect(await (await fetch(`${prod.url}/openapi.json`)).text()).not.toContain("/graphiql");
      expect(await (await fetch(`${gw.url}/openapi.json`)).text()).toContain("/graphiql");
    } finally {
      await prod.close();
    }
    expect(() => readServerConfig({ NODE_ENV: "production" })).toThrow(/JWT_SECRET must be set/);
    expect(() => readServerConfig({ NODE_ENV: "production", JWT_SECRET: "short" })).toThrow(/at least 32 characters/);
    expect(() => readServerConfig({ PORT: "http" })).toThrow(/PORT must be a whole number from 0 to 65535/);
  });

  it("reads the export bounds with safe defaults, the export's time limit below the query timeout", () => {
    expect(readServerConfig({ JWT_SECRET: TEST_JWT_SECRET }).graphql.exports).toEqual({
      concurrency: 1,
      queue: 4,
      maxBytes: 50_000_000,
      timeoutSeconds: 20,
    });
    expect(readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, DATABASE_QUERY_TIMEOUT: "3" }).graphql.exports.timeoutSeconds).toBe(2);
    expect(readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, DATABASE_QUERY_TIMEOUT: "0" }).graphql.exports.timeoutSeconds).toBe(20);
    expect(() => readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, EXPORT_CONCURRENCY: "0" })).toThrow(
      /EXPORT_CONCURRENCY must be a whole number/,
    );
  });

  it("reads the throttles with safe defaults, and TRUST_PROXY=1 as one proxy hop (the address throttling sees)", async () => {
    const defaults = readServerConfig({ JWT_SECRET: TEST_JWT_SECRET });
    expect(defaults.throttle).toEqual({
      loginFailuresPerEmail: 5,
      loginKnownAddressDays: 30,
      loginAttemptsPerAddress: 50,
      loginWindowSeconds: 900,
      passwordChangeFailuresPerUser: 5,
      reauthenticationTtlSeconds: 600,
      registrationsPerAddressPerHour: 10,
      registrationsPerEmailPerHour: 3,
    });
    expect(defaults).toMatchObject({
      bcryptQueueLimit: 8,
      trustProxy: false,
      connectionsPerAddress: 256,
      workers: 1,
      logLevel: "info",
      preparedStatements: true,
      clientConcurrency: { active: 8, waiting: 128 },
      serverConcurrency: { active: 20, waiting: 256 },
    });
    expect(defaults).toMatchObject({
      slowSockets: { slowMs: 2_000, graceMs: 5_000, minRate: 500 },
      probe: { port: 3001, maxConnections: 32 },
      jobs: { concurrency: 8 },
      mail: { smtpTimeoutsMs: { connection: 10_000, greeting: 10_000, socket: 30_000 } },
    });
    expect(defaults.bodyBudgetBytes).toBeGreaterThanOrEqual(16 * 2 ** 20);
    expect(defaults.bodyBudgetBytes).toBeLessThanOrEqual(256 * 2 ** 20);
    expect(readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, PORT: "0" }).probe.port).toBe(0);
    expect(readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, HTTP_BODY_BUDGET_MB: "8" }).bodyBudgetBytes).toBe(8 * 2 ** 20);
    // The server's line is twice as wide as the pool.
    expect(readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, DATABASE_POOL_SIZE: "16" }).serverConcurrency.active).toBe(32);
    // Behind a proxy every socket is the proxy's: no cap on sockets per address by default.
    expect(readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, TRUST_PROXY: "1" }).connectionsPerAddress).toBe(0);
    expect(() => readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, LOGIN_MAX_FAILURES_PER_EMAIL: "0" })).toThrow(
      /LOGIN_MAX_FAILURES_PER_EMAIL must be a whole number/,
    );
    expect(readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, DATABASE_PREPARED_STATEMENTS: "false" }).preparedStatements).toBe(false);
    // A switch is true or false: anything else is refused rather than read as one of them.
    expect(() => readServerConfig({ JWT_SECRET: TEST_JWT_SECRET, JOBS_IN_PROCESS: "no" })).toThrow(
      'JOBS_IN_PROCESS must be true or false (got "no")',
    );

    const behindProxy = await startGateway(gw.db.appUrl, configOver(gw.db, { TRUST_PROXY: "1" }));
    try {
      await http(behindProxy.url, "POST", "/api/auth/login", {
        body: { email: "nobody@proxy.test", password: "a guess" },
        headers: { "x-forwarded-for": "203.0.113.50" },
      });
      const { rows } = await gw.db.owner.query(
        "select attempts from app_private.attempt_counters where key = 'login-address:203.0.113.50'",
      );
      expect(rows).toEqual([{ attempts: 1 }]);
    } finally {
      await behindProxy.close();
    }
  });
});

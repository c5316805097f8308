import { describe, expect, it } from "vitest";
import { recordSettings } from "../../src/config/fields.ts";
import { readOperatorConfig } from "../../src/config/operator.ts";
import { readServerConfig } from "../../src/config/server.ts";
import { readWorkerConfig } from "../../src/config/worker.ts";
import { groupUrls } from "../../src/db/tenant-pool.ts";

const SECRET = "a-test-secret-of-at-least-32-characters";
const PRODUCTION_MAIL = { NODE_ENV: "production", SMTP_URL: "smtp://relay.test:587", APP_URL: "https://app.test" };

/** The names a reader reads. */
const namesRead = (read: (env: NodeJS.ProcessEnv) => unknown) => [...recordSettings((recording) => void read(recording())).keys()];

describe("config: one reader per process, one rule per kind of setting", () => {
  it("each process reads only what it needs: the job worker and operator commands read no JWT setting", () => {
    for (const read of [readWorkerConfig, readOperatorConfig]) {
      expect(namesRead(read).filter((name) => name.startsWith("JWT_"))).toEqual([]);
    }
    expect(namesRead((env) => readServerConfig(env, SECRET))).toContain("JWT_SECRET");
    // In production, where no secret is ever generated, they start without one.
    expect(readWorkerConfig(PRODUCTION_MAIL)).toMatchObject({
      jobs: { concurrency: 8 },
      mail: { appUrl: "https://app.test" },
      poolSize: 10,
    });
    // Operators create tenants as registration does: a paid tier is a trial in production without billing.
    expect(readOperatorConfig({ NODE_ENV: "production", BCRYPT_COST: "10" })).toMatchObject({
      bcryptCost: 10,
      billing: { provider: "none", immediateUpgrades: false, trialDays: 14 },
    });
    expect(() => readServerConfig(PRODUCTION_MAIL)).toThrow(/JWT_SECRET must be set/);
  });

  it("every switch is true or false, GRAPHQL_WATCH too: yes, 1 or on is refused, never read as one of them", () => {
    for (const value of ["yes", "1", "on", "TRUE"]) {
      expect(() => readServerConfig({ JWT_SECRET: SECRET, GRAPHQL_WATCH: value })).toThrow(
        `GRAPHQL_WATCH must be true or false (got "${value}")`,
      );
      expect(() => readWorkerConfig({ JOBS_IN_PROCESS: value })).toThrow(/JOBS_IN_PROCESS must be true or false/);
    }
    expect(readServerConfig({ JWT_SECRET: SECRET, GRAPHQL_WATCH: "false" }).graphql.watch).toBe(false);
    expect(readServerConfig({ JWT_SECRET: SECRET, ...PRODUCTION_MAIL }).graphql.watch).toBe(false);
  });

  it("a whole number is written in digits: 1e3, 0x10, 12.0 and 1_000 are refused", () => {
    for (const value of ["1e3", "0x10", "12.0", "1_000", "twelve"]) {
      expect(() => readWorkerConfig({ DATABASE_POOL_SIZE: value })).toThrow(
        `DATABASE_POOL_SIZE must be a whole number from 1 to 500 (got "${value}")`,
      );
    }
    expect(readWorkerConfig({ DATABASE_POOL_SIZE: " 16 " }).poolSize).toBe(16);
  });

  it("splits the server's pool in groups of two by default; behind PgBouncer, a database name per group", () => {
    const server = (env: NodeJS.ProcessEnv) => readServerConfig({ JWT_SECRET: SECRET, ...env });
    expect([
      server({}).poolGroups,
      server({ DATABASE_POOL_SIZE: "16" }).poolGroups,
      server({ DATABASE_POOL_SIZE: "1" }).poolGroups,
    ]).toEqual([5, 8, 1]);
    expect(namesRead(readWorkerConfig)).not.toContain("DATABASE_POOL_GROUPS");
    expect(() => server({ DATABASE_POOL_GROUP_DATABASE: "stoflow_g" })).toThrow(
      'DATABASE_POOL_GROUP_DATABASE must contain {group}, the group\'s number (got "stoflow_g")',
    );
    expect(groupUrls("postgres://u:p@pgbouncer:6432/stoflow?sslmode=disable", 2, "{database}_g{group}")).toEqual([
      "postgres://u:p@pgbouncer:6432/stoflow_g0?sslmode=disable",
      "postgres://u:p@pgbouncer:6432/stoflow_g1?sslmode=disable",
    ]);
    expect(groupUrls("postgres://u:p@db/stoflow", 2, undefined)).toEqual(["postgres://u:p@db/stoflow", "postgres://u:p@db/stoflow"]);
  });

  it("reads TRUST_PROXY as Express does (hops, true/false, or addresses), and a JWT key pair only whole", () => {
    const trust = (value: string) => readServerConfig({ JWT_SECRET: SECRET, TRUST_PROXY: value }).trustProxy;
    expect([trust("2"), trust("true"), trust("false"), trust("loopback, 10.0.0.0/8")]).toEqual([2, true, false, "loopback, 10.0.0.0/8"]);
    // The probe port is the next one, unless there is none: then any free port.
    expect([3000, 65535].map((port) => readServerConfig({ JWT_SECRET: SECRET, PORT: String(port) }).probe.port)).toEqual([3001, 0]);
    expect(() => readServerConfig({ JWT_PRIVATE_KEY: "a private key alone" })).toThrow("JWT_PRIVATE_KEY and JWT_PUBLIC_KEY go together");
    expect(readServerConfig({ JWT_PRIVATE_KEY: "private", JWT_PUBLIC_KEY: "public", JWT_ALGORITHM: "ES256" }).jwt).toMatchObject({
      algorithm: "ES256",
      signingKey: "private",
      verifyingKey: "public",
    });
  });
});

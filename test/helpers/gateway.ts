import { spawn } from "node:child_process";
import os from "node:os";
import readline from "node:readline";
import { expect } from "vitest";
import type { AppRole } from "../../src/auth/roles.ts";
import { readServerConfig, type ServerConfig } from "../../src/config/server.ts";
import { startGateway, type Gateway } from "../../src/server.ts";
import { addTeamMember as addMember } from "../../src/operator/team-members.ts";
import { createTestDatabase, directUrl, groupEntries, type TestDatabase } from "./db.ts";
import { GENEROUS_LIMITS } from "./limits.ts";

export const TEST_JWT_SECRET = "test-secret-that-is-at-least-32-characters-long";

/**
 * Servers of tests run no job worker (queued messages stay queued) unless a test starts one
 * (test/helpers/mail.ts); the SMTP server and the application named are never reached, they only
 * let production settings load.
 */
export const NO_MAIL = { JOBS_IN_PROCESS: "false", SMTP_URL: "smtp://127.0.0.1:9", APP_URL: "https://app.stoflow.test" };

/** A real HTTP server on a free port, over a database of its own. */
export interface TestGateway extends Gateway {
  db: TestDatabase;
  config: ServerConfig;
}

/**
 * Settings the test run itself sets (vitest.config.ts; npm run test:pgbouncer turns prepared
 * statements off, and the server checks they are), for every in-process server.
 */
export const RUN_SETTINGS: NodeJS.ProcessEnv = Object.fromEntries(
  ["LOG_LEVEL", "DATABASE_PREPARED_STATEMENTS", "DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE"].flatMap((name) =>
    process.env[name] === undefined ? [] : [[name, process.env[name]]],
  ),
);

/**
 * Server settings for tests: any free port, fast bcrypt, a fixed secret, generous limits, the
 * schema built once (test/api/schema-watch.test.ts tries watch mode); `env` adds or overrides.
 * Tests send bursts (50 racing registrations on 10 connections): on a busy machine their requests
 * may queue for a pooled connection longer than the default limit, and be shed with 503, which is
 * not what those tests are about; the outage tests set short limits of their own.
 */
export function testServerConfig(env: NodeJS.ProcessEnv = {}): ServerConfig {
  return readServerConfig({
    PORT: "0",
    PROBE_PORT: "0",
    BCRYPT_COST: "4",
    JWT_SECRET: TEST_JWT_SECRET,
    DATABASE_CONNECT_TIMEOUT: "60",
    GRAPHQL_WATCH: "false",
    ...RUN_SETTINGS,
    ...NO_MAIL,
    ...GENEROUS_LIMITS,
    ...env,
  });
}

/** testServerConfig for a server over `db`, listening for live updates on a direct connection (PgBouncer or not). */
export function configOver(db: { appUrl: string }, env: NodeJS.ProcessEnv = {}): ServerConfig {
  return testServerConfig({ DATABASE_LISTEN_URL: directUrl(db.appUrl), ...groupEntries(db.appUrl), ...env });
}

export async function startTestGateway(env: NodeJS.ProcessEnv = {}): Promise<TestGateway> {
  const db = await createTestDatabase();
  const config = testServerConfig({ JOBS_DATABASE_URL: db.jobsUrl, ...groupEntries(db.appUrl), ...env });
  const gateway = await startGateway(db.appUrl, config);
  return {
    ...gateway,
    db,
    config,
    async close() {
      await gateway.close();
      await db.close();
    },
  };
}

/** Another server over the same database as `gw`, with other settings, closed after `work`. */
export async function withServer<T>(gw: { db: { appUrl: string } }, env: NodeJS.ProcessEnv, work: (url: string) => Promise<T>): Promise<T> {
  const other = await startGateway(gw.db.appUrl, configOver(gw.db, env));
  try {
    return await work(other.url);
  } finally {
    await other.close();
  }
}

/** POST /api/auth/login, as a client sends it (from `headers`' address, when given). */
export function restLogin<T = any>(url: string, email: string, password: string, headers?: Record<string, string>): Promise<HttpResult<T>> {
  return http<T>(url, "POST", "/api/auth/login", { body: { email, password }, ...(headers ? { headers } : {}) });
}

export interface HttpResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** A JSON request to the gateway. */
export async function http<T = any>(
  url: string,
  method: string,
  path: string,
  options: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) headers["content-type"] ??= "application/json";
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(url + path, {
    method,
    headers,
    body: options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

/** A GraphQL operation; returns the HTTP status and the `{ data, errors }` body. */
export function graphql<T = any>(url: string, query: string, variables: Record<string, unknown> = {}, token?: string) {
  return http<{ data?: T; errors?: { message: string; extensions?: { code?: string } }[] }>(url, "POST", "/graphql", {
    body: { query, variables },
    ...(token === undefined ? {} : { token }),
  });
}

/** A GraphQL operation that must succeed; returns its data. */
export async function graphqlOk(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<any> {
  const res = await graphql(url, query, variables, token);
  expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
  return res.body.data;
}

/** The `extensions.code` of the first error of a GraphQL operation (undefined when it succeeded). */
export async function graphqlErrorCode(url: string, query: string, variables: Record<string, unknown> = {}, token?: string) {
  const res = await graphql(url, query, variables, token);
  return res.body.errors?.[0]?.extensions?.code;
}

let counter = 0;
/** Registers a tenant through REST; returns the whole response (tokens, user, tenant). */
export async function signUp(url: string, name = `Shop ${++counter}`, tier?: string) {
  const email = `${name.toLowerCase().replace(/\W+/g, "-")}-${process.pid}-${++counter}@example.test`;
  const result = await http(url, "POST", "/api/auth/register", {
    body: { name, email, password: "correct horse battery", ...(tier ? { subscription_tier: tier } : {}) },
  });
  if (result.status !== 201) throw new Error(`sign-up failed: ${result.status} ${JSON.stringify(result.body)}`);
  return { ...result.body, email, password: "correct horse battery" };
}

/**
 * `npm start` in a child process over `appUrl`, on a port it picks itself; resolves once it
 * listens and has built its GraphQL schema (which it does in the background, after listening).
 */
export async function spawnServer(appUrl: string, env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ["src/cli/start.ts"], {
    env: {
      ...process.env,
      DATABASE_URL: appUrl,
      ...(appUrl ? { DATABASE_LISTEN_URL: directUrl(appUrl), ...groupEntries(appUrl) } : {}),
      PORT: "0",
      PROBE_PORT: "0",
      JWT_SECRET: TEST_JWT_SECRET,
      BCRYPT_COST: "4",
      STOFLOW_DATA_DIR: os.tmpdir(),
      ENV_FILE: "/nonexistent",
      LOG_LEVEL: "info",
      ...NO_MAIL,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let stderr = "";
  const stdout: string[] = [];
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const { url, probes } = await new Promise<{ url: string; probes: string }>((resolve, reject) => {
    // Every line is read to the end, so that the server never blocks on a full pipe.
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      stdout.push(line);
      const announced = line.startsWith("{") ? (JSON.parse(line) as { url?: string; probes: string }) : undefined; // migration lines are plain text
      if (announced?.url) resolve({ url: announced.url, probes: announced.probes });
    });
    void exited.then((code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)));
  });
  expect((await graphql(url, "{ __typename }")).status).toBe(200);
  /** What it printed so far: stdout's lines, and stderr. */
  const printed = () => ({ stdout: [...stdout], stderr });
  return { url, port: Number(new URL(url).port), probeUrl: probes, child, exited, printed };
}

/**
 * A member of a tenant, added directly through the operators' function (`npm run stoflow --
 * users:add`; the API only invites), then signed in. Returns their id, e-mail, password and tokens.
 */
export async function addTeamMember(gw: { url: string; db: TestDatabase }, tenantId: number, role: AppRole) {
  const email = `${role}-${Math.random().toString(36).slice(2)}@team.test`;
  const password = "member password";
  const { id } = await addMember(gw.db.owner, { tenant_id: tenantId, email, role, full_name: `A ${role}`, password }, 4);
  const login = await http(gw.url, "POST", "/api/auth/login", { body: { email, password } });
  expect(login.status).toBe(200);
  return { id, email, password, token: login.body.access_token as string, refreshToken: login.body.refresh_token as string };
}

/** Sudo mode for the session of `token` (POST /api/auth/confirm-password): its sensitive changes pass for REAUTHENTICATION_TTL. */
export async function confirmPassword(url: string, token: string, password = "correct horse battery"): Promise<void> {
  const confirmed = await http(url, "POST", "/api/auth/confirm-password", { token, body: { password } });
  expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
}

/** How many times each value occurs: `{ "401": 5, "429": 20 }`. */
export function tally(values: Array<string | number | undefined>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
  return counts;
}

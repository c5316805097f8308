import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { spawnServer } from "../helpers/gateway.ts";
import { until } from "../helpers/until.ts";

/**
 * `npm start` as a developer and an operator see it: no warning on a normal start, the explorer
 * announced only where it is served, and a browser's icon request not logged as a warning.
 */
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.close());

type Line = { level?: number; msg?: string; explorer?: string; res?: { statusCode: number } };
const parsed = (lines: string[]): Line[] => lines.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Line);

/** Starts the server as `npm start` does with `env`, visits / and /favicon.ico, and returns what it printed. */
async function startAndVisit(env: NodeJS.ProcessEnv) {
  const server = await spawnServer(db.appUrl, {
    JOBS_IN_PROCESS: "true",
    JOBS_DATABASE_URL: db.jobsUrl,
    NODE_ENV: undefined,
    GRAPHILE_ENV: undefined,
    ...env,
  });
  try {
    await fetch(`${server.url}/`);
    expect((await fetch(`${server.url}/favicon.ico`)).status).toBe(204);
    await until("the icon's request line", () => parsed(server.printed().stdout).some((line) => line.res?.statusCode === 204));
    return server.printed();
  } finally {
    server.child.kill("SIGTERM");
    await server.exited;
  }
}

describe("npm start", () => {
  it("in development (no NODE_ENV): no warning on stderr or in the log, the explorer announced", async () => {
    // A developer's normal start: a superuser is known (the embedded cluster's; here ROOT_DATABASE_URL), so watch mode installs its fixtures.
    const { stdout, stderr } = await startAndVisit({ SMTP_URL: undefined, APP_URL: undefined, ROOT_DATABASE_URL: db.superuserUrl });
    expect(stderr).toBe("");
    const lines = parsed(stdout);
    expect(lines.filter((line) => (line.level ?? 0) >= 40)).toEqual([]);
    expect(lines.map((line) => line.msg).join("\n")).not.toMatch(/crontab|GRAPHILE_ENV/);
    expect(lines.find((line) => line.msg?.startsWith("Stoflow API on"))?.explorer).toMatch(/\/graphiql$/);
  });

  it("in production: no warning, and the start line does not advertise the explorer it does not serve", async () => {
    const { stdout, stderr } = await startAndVisit({ NODE_ENV: "production" });
    expect(stderr).toBe("");
    const lines = parsed(stdout);
    expect(lines.filter((line) => (line.level ?? 0) >= 40)).toEqual([]);
    const announced = lines.find((line) => line.msg?.startsWith("Stoflow API on"));
    expect(announced).toBeDefined();
    expect(JSON.stringify(announced)).not.toContain("graphiql");
  });
});

import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";

const run = promisify(execFile);
const TYPES = "examples/rest-client/api.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw?.close());

describe("a typed REST client generated from the server's /openapi.json (openapi-typescript + openapi-fetch)", () => {
  it("generates, type-checks with the usage file, and runs the seed's flows on the project's Node", async () => {
    await fs.rm(TYPES, { force: true });
    await run(process.execPath, ["node_modules/openapi-typescript/bin/cli.js", `${gw.url}/openapi.json`, "-o", TYPES]);
    const types = await fs.readFile(TYPES, "utf8");
    expect(types).toContain('"/api/auth/login"');
    expect(types).toMatch(/login: \{/); // operations are named by their operationId
    // examples/rest-client/flows.ts expects the compiler to refuse a missing password, an unknown
    // route, a field the session does not have, and a code a route does not answer.
    const tsc = await run(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "examples/rest-client"]).catch(
      (error: { stdout: string }) => ({ stdout: error.stdout }),
    );
    expect(tsc.stdout).toBe("");

    const email = `typed-rest-${process.pid}@example.test`;
    const { stdout } = await run(process.execPath, ["examples/rest-client/run.ts", gw.url, email]);
    expect(JSON.parse(stdout)).toEqual({
      tenant: { name: "Vintage Lou", tier: "standard", schema: expect.stringMatching(/^client_\d+$/) },
      session: { status: 200, email, role: "admin" },
      wrongPassword: { status: 401, code: "INVALID_CREDENTIALS" },
      login: 200,
      refresh: { status: 200, newPair: true },
      logout: 204,
      afterLogout: { status: 401, code: "INVALID_TOKEN" },
    });
  });
});

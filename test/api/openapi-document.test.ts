import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import type { Router } from "express";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthService } from "../../src/auth/auth-service.ts";
import type { BillingFlows } from "../../src/billing/flows.ts";
import { createPipeline } from "../../src/http/pipeline.ts";
import { LINK_PAGES } from "../../src/http/link-pages.ts";
import { createMetrics } from "../../src/http/metrics.ts";
import { createLogger } from "../../src/logger.ts";
import { http, startTestGateway, testServerConfig, type TestGateway } from "../helpers/gateway.ts";

/**
 * The OpenAPI document as generators and linters read it: `redocly lint` with its recommended
 * rules, the README's example bodies against the document's request schemas (ajv), and every
 * route of the app documented as an operation of its own.
 */

type Operation = { operationId?: string; requestBody?: unknown; responses: Record<string, unknown> };
let gw: TestGateway;
let document: { paths: Record<string, Record<string, Operation>> };

beforeAll(async () => {
  gw = await startTestGateway();
  document = (await http(gw.url, "GET", "/openapi.json")).body;
});
afterAll(() => gw?.close());

describe("/openapi.json", () => {
  it("passes `redocly lint` with the recommended rules: no error, no warning", async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "stoflow-openapi-")), "openapi.json");
    fs.writeFileSync(file, JSON.stringify(document));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["node_modules/@redocly/cli/bin/cli.js", "lint", "--extends", "recommended", "--format", "json", file],
      { env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" } },
    ).catch((error: { stdout: string }) => ({ stdout: error.stdout }));
    const report = JSON.parse(stdout) as { totals: Record<string, number>; problems: Array<{ ruleId: string; message: string }> };
    expect(report.problems.map(({ ruleId, message }) => `${ruleId}: ${message}`)).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it("accepts the README's example bodies (ajv, JSON Schema 2020-12)", () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addSchema(document, "openapi");
    const readme = fs.readFileSync("README.md", "utf8");
    // curl -X POST [http://]localhost:3000/api/auth/… (lines continued with \) -d '{…}'
    const examples = [...readme.matchAll(/curl -X POST (?:http:\/\/)?localhost:3000(\/\S+)(?:[^\n]*\\\n)*[^\n]*?-d '([^']+)'/g)];
    expect(examples.map(([, route]) => route).sort()).toEqual(
      expect.arrayContaining(["/api/auth/login", "/api/auth/register", "/api/auth/refresh"]),
    );
    for (const [, route, body] of examples) {
      const pointer = `openapi#/paths/${route.replaceAll("/", "~1")}/post/requestBody/content/application~1json/schema`;
      const validate = ajv.getSchema(pointer)!;
      expect(validate(JSON.parse(body)), `${route} ${body}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
  });

  it("documents every route of the app as an operation of its own: operationId, its answers, its security", () => {
    const documented = Object.entries(document.paths).flatMap(([route, operations]) =>
      Object.entries(operations).map(([method, operation]) => ({ route: `${method.toUpperCase()} ${route}`, operation })),
    );
    const undocumented = appRoutes().filter((route) => !documented.some((d) => d.route === route));
    expect(undocumented, "routes of the app that /openapi.json does not describe").toEqual([]);
    for (const { route, operation } of documented) {
      expect(operation.operationId, route).toMatch(/^[a-z][A-Za-z]+$/);
      expect(
        Object.keys(operation.responses).some((status) => status.startsWith("2")),
        route,
      ).toBe(true);
      expect(operation, route).toHaveProperty("security");
    }
    expect(new Set(documented.map((d) => d.operation.operationId)).size).toBe(documented.length);
  });
});

/** Routes served for people and machines, not the REST API: the documents themselves, the metrics, the icon, the development pages of e-mailed links. */
const NOT_THE_API = ["GET /metrics", "GET /openapi.json", "GET /favicon.ico", ...Object.keys(LINK_PAGES).map((path) => `GET ${path}`)];

/** Every route the Express app declares (`GET /api/auth/session`…), mounted routers walked, `:id` written `{id}`. */
function appRoutes(): string[] {
  const config = testServerConfig();
  const { app } = createPipeline({
    pool: {} as pg.Pool,
    auth: {} as AuthService,
    corsOrigins: [],
    trustProxy: false,
    version: "test",
    explorer: true,
    linkPages: true,
    metrics: createMetrics(
      {} as pg.Pool,
      () => Promise.resolve(0),
      () => ({ documents: 0, bytes: 0 }),
      { run: 0, refused: 0, spentMs: 0 },
    ),
    logger: createLogger(undefined, "silent"),
    committedMigrations: 0,
    metricsAccess: config.metrics,
    clientLimits: config.clientConcurrency,
    serverLimits: config.serverConcurrency,
    probeLimits: { active: 2, waiting: 16 },
    graphqlMaxBodyBytes: 1000,
    preparedStatements: false,
    connectionProblem: () => Promise.resolve(undefined),
    graphql: (_req, _res, next) => next(),
    billing: {} as BillingFlows,
  });
  return routesOf(app.router, "").filter((route) => !NOT_THE_API.includes(route));
}

type Layer = { rawPath?: string; route?: { path: string; methods: Record<string, boolean> }; handle: { stack?: Layer[] } };

function routesOf(router: Router | { stack?: Layer[] }, prefix: string): string[] {
  return ((router as { stack?: Layer[] }).stack ?? []).flatMap((layer) => {
    if (layer.route) {
      const route = `${prefix}${layer.route.path}`.replace(/:(\w+)/g, "{$1}");
      return Object.keys(layer.route.methods)
        .filter((m) => m !== "_all")
        .map((method) => `${method.toUpperCase()} ${route}`);
    }
    // A router mounted at "/" (the probes) adds no segment of its own.
    return layer.handle.stack ? routesOf(layer.handle, `${prefix}${(layer.rawPath ?? "").replace(/^\/$/, "")}`) : [];
  });
}

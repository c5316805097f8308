import { LiveHub } from "../live/hub.ts";
import "./env.ts";
import { billingFlows } from "../billing/flows.ts";
import fs from "node:fs/promises";
import pg from "pg";
import { postgraphile } from "postgraphile";
import { lexicographicSortSchema, printSchema } from "postgraphile/graphql";
import { authServiceFor } from "../auth/auth-service.ts";
import { readDatabaseConfig } from "../config/database.ts";
import { readServerConfig } from "../config/server.ts";
import { prepareDatabase } from "../db/database.ts";
import { introspectWithoutTenantSchemas } from "../db/patches/introspection.ts";
import { makePreset } from "../graphql/preset.ts";
import type { Io } from "./io.ts";
import { runAsScript, runCommand } from "./run.ts";
import { answerScriptUsage } from "./usage.ts";

const USAGE = {
  usage: "npm run schema:export [-- <file>]",
  help: "Write the API's GraphQL schema to schema.graphql (or <file>).",
  takesArguments: true,
};

/**
 * `npm run schema:export`: writes the API's GraphQL schema to schema.graphql (committed, so a
 * frontend can generate its client and every change shows in review; a test fails when stale).
 */
export async function printApiSchema(appUrl: string): Promise<string> {
  const pool = new pg.Pool({ connectionString: appUrl, max: 2 });
  introspectWithoutTenantSchemas(pool);
  const config = readServerConfig({}, "schema-export-needs-no-real-secret-0000");
  const pgl = postgraphile(
    makePreset(pool, authServiceFor(pool, config), config.graphql, {
      live: new LiveHub(config.live),
      billing: billingFlows(pool, config.billing, () => ""),
    }),
  );
  try {
    const { schema } = await pgl.getSchemaResult();
    return printSchema(lexicographicSortSchema(schema)) + "\n";
  } finally {
    await pgl.release();
    await pool.end();
  }
}

/** `npm run schema:export [-- <file>]`: writes the schema to `file` (default schema.graphql). */
export function exportSchema(argv: string[], io: Io): Promise<number> {
  const [file = "schema.graphql"] = argv;
  return runCommand("schema:export", io, async () => {
    const answered = answerScriptUsage(USAGE, argv, io);
    if (answered !== undefined) return answered;
    const database = await prepareDatabase(readDatabaseConfig(io.env), () => {});
    try {
      await fs.writeFile(file, await printApiSchema(database.appUrl));
      io.out(`${file} written`);
    } finally {
      await database.stop();
    }
  });
}

await runAsScript(import.meta.url, exportSchema);

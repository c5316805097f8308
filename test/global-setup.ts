import { readFileSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { AUTHENTICATOR_ROLE, ensureOwnedDatabase, migrateAll, setLoginPassword } from "../src/db/database.ts";
import { startEmbeddedCluster, temporaryDataDir } from "../src/db/embedded.ts";
import { writeSecurityReport } from "./attacks/report.ts";
import { freePort } from "./helpers/ports.ts";
import { checkSqlCoverage } from "./helpers/sql-coverage.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Superuser connection to the maintenance database of the test cluster. */
    rootUrl: string;
    /** A migrated database that each test file copies. */
    templateDatabase: string;
    ownerPassword: string;
    authenticatorPassword: string;
    /** Where each test database writes the SQL functions it executed (test/helpers/sql-coverage.ts). */
    sqlCoverageDir: string;
    /** Where attack tests log what they tried (see test/attacks/recorder.ts), for `npm run security:report`. */
    attackLogDir: string;
  }
}

const TEMPLATE = "stoflow_test_template";
const OWNER_PASSWORD = "owner-test-password";
const AUTHENTICATOR_PASSWORD = "authenticator-test-password";

/**
 * One PostgreSQL for the whole run: TEST_ROOT_DATABASE_URL (a superuser URL) when given, else an
 * embedded cluster in a temporary folder. The template database is migrated once.
 */
export default async function setup(project: TestProject) {
  const { rootUrl, stop } = await startTestCluster();
  await ensureOwnedDatabase(rootUrl, TEMPLATE, OWNER_PASSWORD);
  const ownerUrl = new URL(rootUrl);
  ownerUrl.username = "stoflow_owner";
  ownerUrl.password = OWNER_PASSWORD;
  ownerUrl.pathname = `/${TEMPLATE}`;
  // Committed migrations and the work in progress in migrations/current.sql: a change can be
  // tested before it is committed.
  await migrateAll(ownerUrl.toString(), 50, () => {}, { current: true });
  await setLoginPassword(rootUrl, AUTHENTICATOR_ROLE, AUTHENTICATOR_PASSWORD);
  project.provide("rootUrl", rootUrl);
  project.provide("templateDatabase", TEMPLATE);
  project.provide("ownerPassword", OWNER_PASSWORD);
  project.provide("authenticatorPassword", AUTHENTICATOR_PASSWORD);
  const attackLogDir = await fs.mkdtemp(path.join(os.tmpdir(), "stoflow-attacks-"));
  project.provide("attackLogDir", attackLogDir);
  const sqlCoverageDir = await fs.mkdtemp(path.join(os.tmpdir(), "stoflow-sql-coverage-"));
  project.provide("sqlCoverageDir", sqlCoverageDir);
  return async () => {
    // `npm test` (the whole suite) sets SQL_COVERAGE=check: a function no test executed fails the run.
    const sqlCoverage = process.env.SQL_COVERAGE === "check" ? await checkSqlCoverage(ownerUrl.toString(), sqlCoverageDir) : undefined;
    await fs.rm(sqlCoverageDir, { recursive: true, force: true });
    await stop();
    if (process.env.SECURITY_REPORT === "write") {
      // The files that record attacks (bcrypt-priority.test.ts checks a mechanism and records none).
      const attackFiles = (await fs.readdir("test/attacks"))
        .filter((f) => f.endsWith(".test.ts"))
        .filter((f) => readFileSync(path.join("test/attacks", f), "utf8").includes("recordAttack("));
      const green = project.vitest.state.getFailedFilepaths().length === 0;
      console.log(
        green && writeSecurityReport(attackLogDir, attackFiles)
          ? "docs/security.md written"
          : "docs/security.md not written: an attack file failed or did not run",
      );
    }
    await fs.rm(attackLogDir, { recursive: true, force: true });
    // vitest reports an error thrown here but keeps its exit code: the failure is set on the process.
    if (sqlCoverage) {
      console.error(sqlCoverage.message);
      process.exitCode = 1;
    }
  };
}

async function startTestCluster(): Promise<{ rootUrl: string; stop: () => Promise<void> }> {
  const given = process.env.TEST_ROOT_DATABASE_URL;
  if (given) return { rootUrl: given, stop: async () => {} };
  const dataDir = await temporaryDataDir("stoflow-test-");
  const cluster = await startEmbeddedCluster(dataDir, await freePort(), "superuser-test-password");
  return {
    rootUrl: cluster.superuserUrl("postgres"),
    stop: async () => {
      await cluster.stop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

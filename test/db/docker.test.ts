import { spawnSync } from "node:child_process";
import { expect, it } from "vitest";

const compose = spawnSync("docker", ["compose", "version"], { encoding: "utf8" });
const hasCompose = compose.status === 0;

// This repository's machines have the docker client but no compose plugin and no engine: the
// check runs wherever `docker compose` exists, and is reported as skipped elsewhere.
it.skipIf(!hasCompose)("docker-compose.yml is a valid Compose file", () => {
  const result = spawnSync("docker", ["compose", "-f", "docker-compose.yml", "config", "--quiet"], {
    encoding: "utf8",
    env: { ...process.env, JWT_SECRET: "x".repeat(40), SMTP_URL: "smtp://relay:587", APP_URL: "https://app.example" },
  });
  expect(result.status, result.stderr).toBe(0);
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Servers started by tests log nothing unless a test gives them a logger of its own.
    env: { LOG_LEVEL: "silent" },
    // Measured by `npm test` (--coverage.enabled), not when one file is run while working.
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts"],
      reporter: ["text-summary", "json-summary"],
      reportOnFailure: true,
      // The floor measured over src/ (CLI included, but not counted when run in child processes):
      // lines 82.2 %, branches 76.0 % once the operator CLI of issue 13 landed. The goal is 85 % of
      // both (the CLI counted in-process); the floor, two points under, only stops a fall.
      thresholds: { lines: 80, branches: 74 },
    },
  },
});

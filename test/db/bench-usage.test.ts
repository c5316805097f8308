import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import { describe, expect, it } from "vitest";

/** `npm run bench…` as an operator types it: each script is a process of its own (node from node_modules/.bin). */
const SCRIPTS = {
  bench: "bench/run.ts",
  "bench:additions": "bench/decompose.ts",
  "bench:ceiling": "bench/ceiling.ts",
  "bench:live": "bench/live.ts",
  "bench:profile": "bench/profile.ts",
};

const runScript = (script: string, ...args: string[]) => {
  const { status, stdout, stderr } = spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", script, ...args], {
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: status, out: stdout, err: stderr };
};

/** What a bench run leaves behind: its embedded clusters in the temporary folder, and the pages it writes. */
const traces = () => ({
  folders: fs
    .readdirSync(os.tmpdir())
    .filter((name) => /^stoflow-(bench|decompose|ceiling|profile)/.test(name))
    .sort(),
  pages: ["docs/benchmarks.md", "docs/tenant-ceiling.md"].map((page) => fs.statSync(page).mtimeMs),
});

describe("the bench scripts: --help, typos and bad values change nothing", () => {
  it("answers --help and -h with exit 0, and refuses an unknown option, a stray argument or a bad value with exit 2, before starting anything", () => {
    const before = traces();
    for (const [name, script] of Object.entries(SCRIPTS)) {
      for (const help of ["--help", "-h"]) {
        expect(runScript(script, help), `${name} ${help}`).toMatchObject({
          code: 0,
          err: "",
          out: expect.stringMatching(`^usage: npm run ${name}`),
        });
      }
      for (const wrong of [["--tenant", "10"], ["--dry-run"], ["now"]]) {
        expect(runScript(script, ...wrong), `${name} ${wrong.join(" ")}`).toMatchObject({
          code: 2,
          out: "",
          err: expect.stringMatching(`usage: npm run ${name}`),
        });
      }
    }
    expect(runScript(SCRIPTS.bench, "--tenants", "ten")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/^--tenants must be a whole number/),
    });
    expect(runScript(SCRIPTS.bench, "--tenants")).toMatchObject({ code: 2, err: expect.stringMatching(/argument missing/) });
    expect(runScript(SCRIPTS["bench:ceiling"], "--checkpoints", "1000,x")).toMatchObject({
      code: 2,
      err: expect.stringMatching(/^--checkpoints must be a whole number/),
    });
    // Nothing created, nothing rewritten (a bench running beside the suite may remove its own folder meanwhile).
    const after = traces();
    expect(after.folders.filter((folder) => !before.folders.includes(folder))).toEqual([]);
    expect(after.pages).toEqual(before.pages);
  });
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeSettingsDocs } from "../../src/cli/settings-docs.ts";
import { recordingIo } from "../helpers/cli.ts";
import { describe, expect, it } from "vitest";
import { settingsCatalog } from "../../src/config/catalog.ts";
import { renderEnvExample, undocumentedSettings, withConfigTable } from "../../src/config/render-docs.ts";

/**
 * The README's configuration table and `.env.example` against the settings' one definition in
 * code (`settingsCatalog()`: every variable the process readers read, with its default; and the
 * words of src/config/docs.ts): both files are what `npm run settings:docs` writes, and the same
 * names in all three, and where the README gives a default as a plain value (`128`), the code's
 * default is that value and `.env.example` shows that value or none. A default the README gives in
 * words (computed: "cores − 1", "on, off in production") is not compared.
 */

const code = settingsCatalog();
const NAME = /`([A-Z][A-Z0-9_]+)`/g;

/** The rows of the README's configuration table: the names of each, and the default shown for each (undefined: in words). */
function readmeDefaults(): Map<string, string | undefined> {
  const readme = fs.readFileSync("README.md", "utf8");
  const start = readme.indexOf("\n## Configuration\n");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const defaults = new Map<string, string | undefined>();
  for (const row of section.split("\n").filter((line) => line.startsWith("| `"))) {
    const [namesCell, defaultsCell] = row.slice(2).split(" | ");
    const names = [...namesCell.matchAll(NAME)].map(([, name]) => name);
    const parts = defaultsCell.split(", ");
    names.forEach((name, i) => defaults.set(name, parts.length === names.length ? plainValue(parts[i]) : undefined));
  }
  return defaults;
}

/** `128` → 128; anything in words, or naming another setting, is not a plain value. */
function plainValue(part: string): string | undefined {
  const value = /^`([^`]+)`$/.exec(part.trim())?.[1];
  return value === undefined || code.has(value) ? undefined : value;
}

/** `# NAME=value` lines of .env.example (commented or not; a quoted value without its quotes). */
function exampleValues(): Map<string, string> {
  const lines = fs.readFileSync(".env.example", "utf8").split("\n");
  return new Map(lines.flatMap((line) => {
    const match = /^#? ?([A-Z][A-Z0-9_]+)=("[^"]*"|\S*)/.exec(line);
    return match ? [[match[1], match[2].replace(/^"(.*)"$/, "$1")] as const] : [];
  }));
}

describe("settings: one definition in code, the README's table and .env.example agree with it", () => {
  const readme = readmeDefaults();
  const example = exampleValues();

  it("the same names in the code, the README's configuration table and .env.example", () => {
    const names = [...code.keys()].sort();
    expect([...readme.keys()].sort(), "README configuration table").toEqual(names);
    expect([...example.keys()].sort(), ".env.example").toEqual(names);
  });

  it("the defaults the README shows as values are the code's, and .env.example shows them or none", () => {
    const shown = [...readme].filter(([, value]) => value !== undefined);
    expect(shown.length).toBeGreaterThan(60);
    const wrong = shown.flatMap(([name, value]) => [
      ...(code.get(name) === value ? [] : [`${name}: the README says ${value}, the code ${code.get(name)}`]),
      ...(!example.get(name) || example.get(name) === value ? [] : [`${name}: .env.example says ${example.get(name)}, the README and the code ${value}`]),
    ]);
    expect(wrong).toEqual([]);
  });

  it("both files are what `npm run settings:docs` writes from src/config/, and every setting has its row", () => {
    expect(undocumentedSettings()).toEqual({ missing: [], unknown: [] });
    const readmeNow = fs.readFileSync("README.md", "utf8");
    expect(withConfigTable(readmeNow) === readmeNow, "README configuration table is stale: npm run settings:docs").toBe(true);
    expect(fs.readFileSync(".env.example", "utf8"), ".env.example is stale: npm run settings:docs").toBe(renderEnvExample());
  });

  it("`npm run settings:docs` rewrites a stale table and .env.example, and keeps the rest of the README", async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "stoflow-settings-docs-"));
    const readmeNow = fs.readFileSync("README.md", "utf8");
    fs.writeFileSync(path.join(folder, "README.md"), readmeNow.replace("| `PORT` | `3000` |", "| `PORT` | `8080` |"));
    fs.writeFileSync(path.join(folder, ".env.example"), "# stale\n");
    const io = recordingIo({});
    expect(await writeSettingsDocs([], io, folder)).toBe(0);
    expect(fs.readFileSync(path.join(folder, "README.md"), "utf8")).toBe(readmeNow);
    expect(fs.readFileSync(path.join(folder, ".env.example"), "utf8")).toBe(renderEnvExample());
    fs.rmSync(folder, { recursive: true });
    expect(() => withConfigTable("# A README\n\n## Configuration\n\nNo table.\n")).toThrow(/no configuration table/);
  });
});

import { settingsCatalog } from "./catalog.ts";
import { settingGroups, type SettingRow } from "./docs.ts";

/**
 * The README's configuration table and `.env.example`, written from the settings' definitions:
 * names and plain defaults from the readers (`settingsCatalog()`), words from `docs.ts`.
 * `npm run settings:docs` writes them; the settings-drift test compares.
 */

const ENV_EXAMPLE_HEADER = `# Copy to .env and adjust. Every variable is optional unless marked; the environment wins over .env.
# Written by \`npm run settings:docs\` from src/config/ (do not edit by hand). A value shown is the
# default; an empty one is unset, or computed as the README's configuration table says.
`;
const TABLE_HEAD = "| variable | default | meaning |\n|---|---|---|\n";
const NOTE_COLUMN = 37;

type Catalog = Map<string, string | undefined>;

/** A row's defaults: its words, or each name's default as the readers give it. */
function shownDefault(row: SettingRow, catalog: Catalog): string {
  if (row.shown !== undefined) return row.shown;
  return row.names
    .map((name) => {
      const value = catalog.get(name);
      if (value === undefined) throw new Error(`${name}: no default in the readers; give the row's default in words`);
      return `\`${value}\``;
    })
    .join(", ");
}

export function renderConfigTable(catalog: Catalog = settingsCatalog()): string {
  const rows = settingGroups
    .flatMap((group) => group.rows)
    .map((row) => `| ${row.names.map((name) => `\`${name}\``).join(", ")} | ${shownDefault(row, catalog)} | ${row.meaning} |\n`);
  return TABLE_HEAD + rows.join("");
}

/** One `# NAME=value   # note` line. */
function exampleLine(row: SettingRow, name: string, catalog: Catalog): string {
  const raw = row.example?.[name] ?? (row.shown === undefined ? catalog.get(name)! : "");
  const assignment = `# ${name}=${/\s/.test(raw) ? `"${raw}"` : raw}`;
  const note = row.notes?.[name];
  return note === undefined ? assignment : `${assignment.padEnd(Math.max(NOTE_COLUMN, assignment.length + 2))}# ${note}`;
}

export function renderEnvExample(catalog: Catalog = settingsCatalog()): string {
  const sections = settingGroups.map(
    (group) =>
      [`# --- ${group.title}`, ...group.rows.flatMap((row) => row.names.map((name) => exampleLine(row, name, catalog)))].join("\n") + "\n",
  );
  return `${ENV_EXAMPLE_HEADER}\n${sections.join("\n")}`;
}

/** The README with its configuration table replaced (the table is the first one under "## Configuration"). */
export function withConfigTable(readme: string, table = renderConfigTable()): string {
  const start = readme.indexOf(TABLE_HEAD, readme.indexOf("\n## Configuration\n"));
  if (start < 0) throw new Error("README.md: no configuration table under ## Configuration");
  const end = readme.indexOf("\n\n", start);
  return readme.slice(0, start) + table.trimEnd() + readme.slice(end);
}

/** Every name the readers read has a row, and every row names settings the readers read. */
export function undocumentedSettings(catalog: Catalog = settingsCatalog()): { missing: string[]; unknown: string[] } {
  const documented = new Set(settingGroups.flatMap((group) => group.rows.flatMap((row) => row.names)));
  return {
    missing: [...catalog.keys()].filter((name) => !documented.has(name)).sort(),
    unknown: [...documented].filter((name) => !catalog.has(name)).sort(),
  };
}

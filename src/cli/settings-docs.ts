import fs from "node:fs";
import path from "node:path";
import { renderEnvExample, undocumentedSettings, withConfigTable } from "../config/render-docs.ts";
import type { Io } from "./io.ts";
import { runAsScript, runCommand } from "./run.ts";
import { answerScriptUsage } from "./usage.ts";

const HELP = {
  usage: "npm run settings:docs",
  help: "Write the README's configuration table and .env.example from the settings' definitions (src/config/).",
};

/** `npm run settings:docs`: writes the README's configuration table and `.env.example` (of the folder `root`) from src/config/. */
export async function writeSettingsDocs(argv: string[], io: Io, root = "."): Promise<number> {
  const answered = answerScriptUsage(HELP, argv, io);
  if (answered !== undefined) return answered;
  return runCommand("settings:docs", io, () => {
    const { missing, unknown } = undocumentedSettings();
    if (missing.length + unknown.length > 0)
      throw new Error(`src/config/docs.ts: rows missing for [${missing.join(",")}], rows for unknown settings [${unknown.join(",")}]`);
    const readme = path.join(root, "README.md");
    fs.writeFileSync(readme, withConfigTable(fs.readFileSync(readme, "utf8")));
    fs.writeFileSync(path.join(root, ".env.example"), renderEnvExample());
    io.out("README.md (configuration table) and .env.example written from src/config/");
  });
}

await runAsScript(import.meta.url, (argv, io) => writeSettingsDocs(argv, io));

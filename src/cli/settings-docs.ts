import fs from "node:fs";
import { renderEnvExample, undocumentedSettings, withConfigTable } from "../config/render-docs.ts";
import type { Io } from "./io.ts";
import { runAsScript, runCommand } from "./run.ts";
import { answerScriptUsage } from "./usage.ts";

const HELP = {
  usage: "npm run settings:docs",
  help: "Write the README's configuration table and .env.example from the settings' definitions (src/config/).",
};

/** `npm run settings:docs`: writes the README's configuration table and `.env.example` from src/config/. */
export async function writeSettingsDocs(argv: string[], io: Io): Promise<number> {
  const answered = answerScriptUsage(HELP, argv, io);
  if (answered !== undefined) return answered;
  return runCommand("settings:docs", io, async () => {
    const { missing, unknown } = undocumentedSettings();
    if (missing.length + unknown.length > 0) {
      throw new Error(`src/config/docs.ts: no row for ${missing.join(", ") || "-"}; rows for unknown ${unknown.join(", ") || "-"}`);
    }
    fs.writeFileSync("README.md", withConfigTable(fs.readFileSync("README.md", "utf8")));
    fs.writeFileSync(".env.example", renderEnvExample());
    io.out("README.md (configuration table) and .env.example written from src/config/");
  });
}

await runAsScript(import.meta.url, writeSettingsDocs);

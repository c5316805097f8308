import { PersistedPlugin } from "@grafserv/persisted";
import fs from "node:fs";

/**
 * Trusted documents (persisted operations): only the documents a build of the app declared run,
 * requested by hash (`{"documentId": "<hash>"}`, or Apollo's `extensions.persistedQuery`). The
 * strongest limit of all for production: no document an attacker wrote is ever parsed.
 * `source` is a JSON file `{ "<hash>": "<document>" }` or a folder of `<hash>.graphql` files.
 */
export function trustedDocumentsPreset(source: string): GraphileConfig.Preset {
  const grafserv: GraphileConfig.GrafservOptions = source.endsWith(".json")
    ? { persistedOperations: JSON.parse(fs.readFileSync(source, "utf8")) as Record<string, string> }
    : { persistedOperationsDirectory: source };
  return { plugins: [PersistedPlugin], grafserv: { ...grafserv, allowUnpersistedOperation: false } };
}

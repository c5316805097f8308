import fs from "node:fs";
import path from "node:path";
import { inject } from "vitest";

/** One attack tried by the suite: how often, and what happened every time. */
export interface AttackRecord {
  file: string;
  category: string;
  attack: string;
  attempts: number;
  result: string;
}

/**
 * Records an attack after its assertions passed (a failing assertion throws before this line, so
 * the report only lists attacks that were refused as stated). Lines go to the run's log folder;
 * the global teardown turns them into docs/security.md.
 */
export function recordAttack(file: string, category: string, attack: string, attempts: number, result: string): void {
  const record: AttackRecord = { file: path.basename(file), category, attack, attempts, result };
  fs.appendFileSync(path.join(inject("attackLogDir"), `${record.file}.jsonl`), JSON.stringify(record) + "\n");
}

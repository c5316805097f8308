import fs from "node:fs";
import path from "node:path";
import { afterAll, inject } from "vitest";
import { FIGURES_LOG, REPORT, staleness } from "./report.ts";

/** One attack tried by the suite: how often, and what happened every time. */
export interface AttackRecord {
  file: string;
  category: string;
  attack: string;
  attempts: number;
  result: string;
}

/** `npm run security:report` rewrites docs/security.md from the run; any other run checks it. */
const WRITING = process.env.SECURITY_REPORT === "write";
const recorded: AttackRecord[] = [];

/**
 * Records an attack after its assertions passed (a failing assertion throws before this line, so
 * the report only lists attacks that were refused as stated). Lines go to the run's log folder,
 * which the global teardown of `npm run security:report` turns into docs/security.md.
 */
export function recordAttack(file: string, category: string, attack: string, attempts: number, result: string): void {
  const record: AttackRecord = { file: path.basename(file), category, attack, attempts, result };
  recorded.push(record);
  fs.appendFileSync(path.join(inject("attackLogDir"), `${record.file}.jsonl`), JSON.stringify(record) + "\n");
}

/** The `record(attack, attempts, result)` of one attack file, in one category of the report. */
export function attackRecorder(file: string, category: string) {
  return (attack: string, attempts: number, result: string): void => recordAttack(file, category, attack, attempts, result);
}

/** What an attack measured on this machine (latencies, memory): listed apart from the table, never checked for staleness. */
export interface FigureRecord {
  file: string;
  attack: string;
  figures: string;
}

/** Records the figures an attack measured, beside the attack's row (see `figuresOf` in report.ts). */
export function recordFigures(file: string, attack: string, figures: string): void {
  const record: FigureRecord = { file: path.basename(file), attack, figures };
  fs.appendFileSync(path.join(inject("attackLogDir"), `${record.file}${FIGURES_LOG}`), JSON.stringify(record) + "\n");
}

type Task = { type: string; mode: string; result?: { state?: string }; tasks?: Task[] };
const testsOf = (task: Task): Task[] => (task.type === "test" ? [task] : (task.tasks ?? []).flatMap(testsOf));

// Once an attack file has run whole and green, docs/security.md must list exactly what it tried
// (like schema.graphql, the committed report is checked, never rewritten by a test run).
// eslint-disable-next-line no-empty-pattern -- vitest reads fixtures from the first argument's destructuring: none is wanted here
afterAll(({}, file) => {
  if (WRITING || recorded.length === 0) return;
  if (!testsOf(file as unknown as Task).every((test) => test.mode === "run" && test.result?.state === "pass")) return;
  const why = staleness(recorded[0].file, recorded);
  if (why) throw new Error(`${REPORT} is stale for ${recorded[0].file}: run \`npm run security:report\` and commit it.\n${why}`);
});

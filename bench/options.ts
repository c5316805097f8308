import { parseArgs } from "node:util";
import { wholeNumber } from "../src/config/fields.ts";

/** What a bench script answers to --help. */
export interface BenchHelp {
  usage: string;
  help: string;
}

type StringOptions = Record<string, { type: "string" }>;

/**
 * The command-line options of a bench script (node:util's parseArgs, strict): --help answers, and
 * an unknown option (a typo), a missing value or a stray argument stops the script with exit 2,
 * before any database starts or any page is written.
 */
export function benchOptions<O extends StringOptions>(help: BenchHelp, options: O): { [K in keyof O]?: string } {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: process.argv.slice(2),
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
    }).values;
  } catch (error) {
    return usageError(help, (error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`usage: ${help.usage}\n  ${help.help}\n`);
    process.exit(0);
  }
  return values as { [K in keyof O]?: string };
}

/** `value` (of option `name`) as a whole number from `min` to `max`, `fallback` when absent; else exit 2. */
export function wholeOption(help: BenchHelp, name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = wholeNumber(min, max).safeParse(value);
  return parsed.success ? parsed.data : usageError(help, `--${name} must be a whole number from ${min} to ${max} (got "${value}")`);
}

function usageError(help: BenchHelp, message: string): never {
  process.stderr.write(`${message}\nusage: ${help.usage}\n`);
  process.exit(2);
}

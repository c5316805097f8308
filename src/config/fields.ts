/**
 * How one setting is read from the environment, each kind once, with zod: a whole number within
 * bounds, `true`/`false` (the only boolean rule: `yes` or `1` is refused, never read as one of
 * them), a text, or an optional text. Each reader names the setting and its default, so that the
 * settings can list themselves: `settingsCatalog()` (catalog.ts) runs the process readers on a
 * recording environment, and `npm run settings:docs` writes the README's configuration table and
 * `.env.example` from what it lists.
 */
import os from "node:os";
import { z } from "zod";

type Env = NodeJS.ProcessEnv;

/** While a catalog is recorded: every setting read, with its default as text (undefined: none, or unset by default). */
let catalog: Map<string, string | undefined> | undefined;

function note(name: string, fallback: string | number | boolean | undefined): void {
  catalog?.set(name, fallback === undefined ? undefined : String(fallback));
}

/**
 * Runs `read` with environments (each over a `seed` of values, to reach a branch) that record
 * every variable read; returns each with the default its reader gave.
 */
export function recordSettings(read: (recording: (seed?: Env) => Env) => void): Map<string, string | undefined> {
  const recorded = new Map<string, string | undefined>();
  catalog = recorded;
  try {
    read(
      (seed = {}) =>
        new Proxy(seed, {
          get(target, name) {
            if (typeof name === "string" && !recorded.has(name)) recorded.set(name, undefined);
            return Reflect.get(target, name) as string | undefined;
          },
        }),
    );
    return recorded;
  } finally {
    catalog = undefined;
  }
}

/** The value when set and not blank. */
export function optional(env: Env, name: string): string | undefined {
  note(name, undefined);
  const value = env[name];
  return value && value.trim() !== "" ? value : undefined;
}

export function text(env: Env, name: string, fallback: string): string {
  const value = optional(env, name);
  note(name, fallback);
  return value ?? fallback;
}

const BOOLEAN = z.enum(["true", "false"]).transform((value) => value === "true");

/** `true` or `false`; anything else is refused, rather than read as one of them. */
export function flag(env: Env, name: string, fallback: boolean): boolean {
  const value = optional(env, name);
  note(name, fallback);
  if (value === undefined) return fallback;
  const parsed = BOOLEAN.safeParse(value);
  if (!parsed.success) throw new Error(`${name} must be true or false (got "${value}")`);
  return parsed.data;
}

/** A whole number from `min` to `max`, written in decimal digits (blank: the fallback). */
export const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\s*-?\d+\s*$/)
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** Reads an integer variable, refusing anything that is not a whole number within bounds. */
export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  note(name, fallback);
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const parsed = wholeNumber(min, max).safeParse(raw);
  if (!parsed.success) throw new Error(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
  return parsed.data;
}

export const MB = 1024 * 1024;

/**
 * A 256th of the memory the process may use (its cgroup's limit, or the machine's), from 16 to
 * 256 MB: 64 MB on a 16 GB machine. Bytes held for clients beyond that (bodies being received,
 * answers a subscriber leaves unread) are a flood, not traffic.
 */
export function memoryShareMb(): number {
  const constrained = process.constrainedMemory();
  const memory = constrained > 0 ? Math.min(constrained, os.totalmem()) : os.totalmem();
  return Math.min(256, Math.max(16, Math.floor(memory / 256 / MB)));
}

/**
 * How one setting is read from the environment. Each reader names the setting and its default,
 * so that the settings can list themselves: `settingsCatalog()` (src/config.ts) runs the config
 * readers on a recording environment, and the settings-drift test checks the README's
 * configuration table and `.env.example` against what it lists (names and defaults).
 */

type Env = NodeJS.ProcessEnv;

/** While a catalog is recorded: every setting read, with its default as text (undefined: none, or unset by default). */
let catalog: Map<string, string | undefined> | undefined;

function note(name: string, fallback: unknown): void {
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
    read((seed = {}) => new Proxy(seed, {
      get(target, name) {
        if (typeof name === "string" && !recorded.has(name)) recorded.set(name, undefined);
        return Reflect.get(target, name);
      },
    }));
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

/** `true` or `false`; anything else is refused, rather than read as one of them. */
export function flag(env: Env, name: string, fallback: boolean): boolean {
  const value = optional(env, name);
  note(name, fallback);
  if (value === undefined) return fallback;
  if (value !== "true" && value !== "false") throw new Error(`${name} must be true or false (got "${value}")`);
  return value === "true";
}

/** Reads an integer variable, refusing anything that is not a whole number within bounds. */
export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  note(name, fallback);
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}

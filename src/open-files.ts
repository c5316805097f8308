import fs from "node:fs";

/** Where Linux says how many files this process may open (Node raises the soft limit to the hard one). */
const LIMITS_FILE = "/proc/self/limits";
/** Assumed where the limit cannot be read (not Linux): the common soft limit. */
const ASSUMED_LIMIT = 1024;

/** How many files (sockets included) this process may open at once. */
export function openFileLimit(): number {
  try {
    const limit = /^Max open files\s+(\d+)/m.exec(fs.readFileSync(LIMITS_FILE, "utf8"))?.[1];
    return limit ? Number(limit) : ASSUMED_LIMIT;
  } catch {
    return ASSUMED_LIMIT;
  }
}

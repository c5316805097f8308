/**
 * PostgreSQL codes of a transaction that lost a race with another one (nothing it did was kept):
 * the client may simply retry. Answered as CONFLICT (REST 409), never as a server error.
 */
export const LOST_RACE_CODES = [
  "40P01", // deadlock_detected
  "40001", // serialization_failure
  "55P03", // lock_not_available (lock_timeout, NOWAIT, a deletion that gave up waiting)
] as const;

export function isLostRace(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && (LOST_RACE_CODES as readonly string[]).includes(code);
}

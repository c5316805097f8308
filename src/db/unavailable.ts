/** Network errors and PostgreSQL codes that mean "the database cannot serve right now". */
const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "ETIMEDOUT", "EPIPE",
  "08000", "08001", "08003", "08004", "08006", // connection exceptions
  "57P01", "57P02", "57P03", // admin shutdown, crash shutdown, cannot connect now
]);

export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  return (code !== undefined && UNAVAILABLE_CODES.has(code))
    || /^Connection terminated|timeout exceeded when trying to connect/.test(message ?? "");
}

/**
 * Prints rows as a plain table: a header, then one line per row, columns padded to one width and
 * separated by two spaces, so `grep` and `awk` work on it. Arrays print comma-separated.
 */
export function printTable(rows: Record<string, unknown>[], write: (line: string) => void): void {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]);
  const cells = [columns, ...rows.map((row) => columns.map((column) => cell(row[column])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i].length)));
  for (const line of cells)
    write(
      line
        .map((value, i) => value.padEnd(widths[i]))
        .join("  ")
        .trimEnd(),
    );
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(",");
  if (value instanceof Date) return value.toISOString();
  return typeof value === "string" ? value : JSON.stringify(value);
}

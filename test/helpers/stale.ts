/**
 * What to do when a committed file (data/schema.sql, schema.graphql) differs from what the
 * migrations give. When it holds lines the migrations do not produce, they come from the
 * developer's database, left there by an earlier current.sql: regenerating from that database
 * cannot remove them, rebuilding it can.
 */
export function staleFileAdvice(file: string, committed: string, built: string, regenerate: string): string {
  const produced = new Set(built.split("\n"));
  const leftovers = committed.split("\n").filter((line) => line.trim() !== "" && !produced.has(line));
  if (leftovers.length === 0) return `${file} is stale: run \`${regenerate}\``;
  return (
    `${file} holds ${leftovers.length} lines the migrations do not produce (first: ${JSON.stringify(leftovers[0])}): ` +
    "your development database keeps what an earlier current.sql made. Rebuild it from the migrations with " +
    `\`npm run db -- rebuild --yes\` (it drops its tenants), then run \`${regenerate}\``
  );
}

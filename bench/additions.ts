import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { figureOr, loadWithCpu, median, startServer, type LoadSpec } from "./measure.ts";

/** The tenant read every comparison sends. */
export const READ_DOCUMENT = "{ products(first: 20, orderBy: SKU_ASC) { nodes { sku title price } } }";

/** What one server of the decomposition adds to vanilla PostGraphile (see variants-server.ts). */
export interface Variant {
  /** Express with grafserv's Express adapter, grafserv's node adapter, or the gateway's plain /graphql route (src/http/pipeline.ts). */
  adapter: "express" | "node" | "plain";
  /** No session check; a round trip of its own before the transaction; or in the transaction's opening. */
  session: "none" | "before" | "opening";
  guards: boolean;
  log: boolean;
  metrics: boolean;
  concurrency: boolean;
}

/** The plugins of makePreset that check documents and shape answers (the "document gate and limits" step). */
export const GUARD_PLUGINS = [
  "StoflowDocumentGatePlugin",
  "StoflowPageSizePlugin",
  "StoflowAnswerStatusPlugin",
  "StoflowErrorCodesPlugin",
  "StoflowValueWeightPlugin",
];

const VANILLA: Variant = { adapter: "express", session: "none", guards: false, log: false, metrics: false, concurrency: false };

/** The steps, each adding one of the gateway's additions to the one before (the first two side by side). */
export const VARIANTS: Record<string, Variant> = {
  vanilla: VANILLA,
  "vanilla, grafserv node adapter (no Express)": { ...VANILLA, adapter: "node" },
  "vanilla on the gateway's plain /graphql route": { ...VANILLA, adapter: "plain" },
  "+ session check, own round trip before (as before issue 14)": { ...VANILLA, adapter: "plain", session: "before" },
  "+ session check in the transaction's opening": { ...VANILLA, adapter: "plain", session: "opening" },
  "+ document gate and limits": { ...VANILLA, adapter: "plain", session: "opening", guards: true },
  "+ request log": { ...VANILLA, adapter: "plain", session: "opening", guards: true, log: true },
  "+ metrics": { ...VANILLA, adapter: "plain", session: "opening", guards: true, log: true, metrics: true },
  "+ client and server concurrency (= every addition)": {
    ...VANILLA,
    adapter: "plain",
    session: "opening",
    guards: true,
    log: true,
    metrics: true,
    concurrency: true,
  },
};

export function variantOf(name: string): Variant {
  const variant = VARIANTS[name];
  if (!variant) throw new Error(`BENCH_VARIANT must be one of: ${Object.keys(VARIANTS).join(" | ")}`);
  return variant;
}

/** One server to measure: a variant, or a whole gateway (its script and environment). */
export interface Contender {
  name: string;
  script: string;
  env: Record<string, string>;
  /** The request it is sent (the gateway with trusted documents sends a document id). */
  body?: string;
}

export interface Decomposed {
  name: string;
  rps: number;
  cpuUsPerRequest: number;
  /** Failed requests (non-2xx or GraphQL errors) over every round: a contender that fails is not faster. */
  errors: number;
  /** Median over rounds of this contender's req/s over the first contender's, in the same round. */
  vsFirst: number;
  /** (max − min) / median of those per-round ratios. */
  spread: number;
}

/**
 * Runs every contender in turn, `rounds` times over (ABC…ABC…), so that load from other processes
 * on the machine hits them alike; each figure is a median over rounds, ratios are taken per round.
 */
export async function decompose(
  contenders: Contender[],
  spec: Omit<LoadSpec, "url">,
  body: string,
  rounds: number,
  firstPort = 3910,
): Promise<Decomposed[]> {
  const servers = [];
  for (const [i, c] of contenders.entries()) servers.push(await startServer(c.script, c.env, firstPort + i, "/graphql"));
  try {
    const runs = contenders.map(() => [] as Array<{ rps: number; cpuUsPerRequest: number; errors: number }>);
    for (let round = 0; round < rounds; round++) {
      for (const [i, c] of contenders.entries()) {
        const request = (n: number) => ({ ...spec.request(n), body: c.body ?? body });
        runs[i].push(await loadWithCpu({ ...spec, request, url: `http://localhost:${firstPort + i}` }, servers[i].process.pid!));
      }
    }
    return contenders.map((c, i) => {
      const ratios = runs[i].map((r, round) => r.rps / Math.max(1, runs[0][round].rps));
      const vsFirst = median(ratios);
      return {
        name: c.name,
        vsFirst,
        errors: runs[i].reduce((sum, r) => sum + r.errors, 0),
        spread: (Math.max(...ratios) - Math.min(...ratios)) / vsFirst,
        rps: Math.round(median(runs[i].map((r) => r.rps))),
        cpuUsPerRequest: Math.round(median(runs[i].map((r) => r.cpuUsPerRequest))),
      };
    });
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/** The contenders of the decomposition: each variant, then the whole gateway without and with session liveness in memory, and with trusted documents. */
export function contenders(serverEnv: Record<string, string>, trustedFile: string, trustedBody: string): Contender[] {
  return [
    ...Object.keys(VARIANTS).map((name) => ({ name, script: "bench/variants-server.ts", env: { ...serverEnv, BENCH_VARIANT: name } })),
    {
      name: "the gateway, every session checked in SQL (SESSION_LIVENESS_WINDOW_MS=0)",
      script: "src/cli/start.ts",
      env: { ...serverEnv, SESSION_LIVENESS_WINDOW_MS: "0" },
    },
    { name: "the gateway (npm start): sessions seen live remembered", script: "src/cli/start.ts", env: serverEnv },
    {
      name: "the gateway with trusted documents (GRAPHQL_TRUSTED_DOCUMENTS)",
      script: "src/cli/start.ts",
      env: { ...serverEnv, GRAPHQL_TRUSTED_DOCUMENTS: trustedFile },
      body: trustedBody,
    },
  ];
}

/** Markdown rows of a decomposition. */
export function decompositionTable(results: Decomposed[]): string[] {
  return [
    "| server | req/s | vs vanilla (median of per-round ratios) | spread | CPU µs/request | errors |",
    "|---|---|---|---|---|---|",
    ...results.map(
      (r) =>
        `| ${r.name} | ${r.rps} | ${figureOr(r.name, r.errors + results[0].errors, `${r.vsFirst.toFixed(2)}×`)} | ${(r.spread * 100).toFixed(0)} %${r.spread > 0.1 ? " (noisy)" : ""} | ${r.cpuUsPerRequest} | ${r.errors} |`,
    ),
  ];
}

/** A trusted documents file holding `query` alone, in `dir`, and the body that requests it by id. */
export async function trustedDocument(dir: string, query: string): Promise<{ file: string; body: string }> {
  const id = createHash("sha256").update(query).digest("hex");
  const file = path.join(dir, "trusted-documents.json");
  await fs.writeFile(file, JSON.stringify({ [id]: query }));
  return { file, body: JSON.stringify({ documentId: id }) };
}

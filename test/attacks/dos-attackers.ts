import { getIntrospectionQuery } from "postgraphile/graphql";
import http from "node:http";
import { parentPort, workerData } from "node:worker_threads";

/**
 * The attackers of test/attacks/denial-of-service.test.ts, in a worker thread of their own, so
 * that building and reading hostile requests does not slow the test's /health probes. Each
 * attacker speaks from a loopback address of its own (127.0.1.n): a crowd of clients, which the
 * per-address limits alone do not hold back.
 */
interface Orders {
  url: string;
  token: string;
  attackers: number;
  durationMs: number;
  shapes: string | undefined;
}

let serial = 0;
// Built once: the attackers share the machine with the server, and should spend their CPU sending.
const PADDING = "x".repeat(95_000);
const DEEP_FILTER = `{"f": ${'{"and": ['.repeat(5_000)}{"sku": {"equalTo": "x"}}${"]}".repeat(5_000)}}`;
const ROOT_FIELDS = Array.from({ length: 25 }, (_, i) => `t${i}: tiers { totalCount }`).join(" ");
const UNDER_QUERY = Array.from({ length: 1_000 }, (_, i) => `a${i}: tiers { totalCount }`).join(" ");
const DOUBLING = [
  "fragment F0 on Query { tiers { totalCount } }",
  ...Array.from({ length: 27 }, (_, i) => `fragment F${i + 1} on Query { ...F${i} ...F${i} }`),
].join("\n");
const INTROSPECTION = getIntrospectionQuery({ descriptions: true });

/** The hostile shapes of the issue, each request distinct so that no cache can help. */
export const SHAPES: Record<string, () => { query: string; variablesJson?: string; auth?: boolean }> = {
  "95 kB document refused for its root fields": () => ({
    query: `{ ${ROOT_FIELDS} } # ${serial++} ${PADDING}`,
  }),
  "100 kB document of aliases": () => ({
    query: `{ ${Array.from({ length: 5_000 }, (_, i) => `a${i}_${serial}: __typename`).join(" ")} }`,
  }),
  "aliases under query": () => ({ query: `{ query { ${UNDER_QUERY} } } # ${serial++}` }),
  "doubling fragments, 27 levels": () => ({ query: `{ ...F27 } # ${serial++}\n${DOUBLING}` }),
  "first from a variable default": () => ({
    query: `query($n: Int = 100000) { products(first: $n) { nodes { sku } } } # ${serial++}`,
    auth: true,
  }),
  "filter nested 5,000 deep in variables": () => ({
    query: `query($f: ProductFilter) { products(filter: $f) { totalCount } } # ${serial++}`,
    variablesJson: DEEP_FILTER, // written out: JSON.stringify itself recurses too deep for this
    auth: true,
  }),
  "20 aliased logins": () => ({
    query: `mutation { ${Array.from({ length: 20 }, (_, i) => `l${i}: login(input: { email: "v${serial++}@x.test", password: "guess ${i}" }) { accessToken }`).join(" ")} }`,
  }),
  "distinct valid documents": () => ({ query: `{ t${serial++}: tiers(first: 3) { nodes { id maxProducts } } }` }),
  "distinct introspection documents": () => ({ query: `${INTROSPECTION} # ${serial++}` }),
};

/** POSTs a body to /graphql over the attacker's own connection; the status, or 0 when the socket failed. */
function post(url: URL, agent: http.Agent, body: string, token: string | undefined): Promise<number> {
  return new Promise((resolve) => {
    const headers = { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const req = http.request({ host: url.hostname, port: url.port, path: "/graphql", method: "POST", agent, headers }, (res) => {
      res.resume().once("end", () => resolve(res.statusCode ?? 0));
    });
    req.once("error", () => resolve(0));
    req.end(body);
  });
}

async function attack({ url, token, attackers, durationMs, shapes: only }: Orders) {
  const shapes = Object.entries(SHAPES).filter(([name]) => !only || name.includes(only));
  const stopAt = Date.now() + durationMs;
  const statuses: Record<string, number[]> = {};
  const target = new URL(url);
  target.hostname = "127.0.0.1";
  const attacker = async (offset: number) => {
    const agent = new http.Agent({ keepAlive: true, localAddress: `127.0.1.${offset + 1}` });
    for (let i = offset; Date.now() < stopAt; i++) {
      const [name, make] = shapes[i % shapes.length];
      const { query, variablesJson = "{}", auth } = make();
      const status = await post(
        target,
        agent,
        `{"query": ${JSON.stringify(query)}, "variables": ${variablesJson}}`,
        auth ? token : undefined,
      );
      (statuses[name] ??= []).push(status);
    }
    agent.destroy();
  };
  await Promise.all(Array.from({ length: attackers }, (_, i) => attacker(i)));
  return statuses;
}

if (parentPort) parentPort.postMessage(await attack(workerData as Orders));

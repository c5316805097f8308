import http from "node:http";

/**
 * `node test/attacks/health-probe.ts <url> <milliseconds> [interval] [fresh]`: asks GET /health
 * every 50 ms (or interval) for that long and prints the latencies (JSON). A process of its own,
 * as a load balancer's probe is: what it measures is the server, not the test process that also
 * builds and reads the attack. With `fresh`, each probe opens a connection of its own, as a
 * kubelet's does; else one keep-alive connection serves them all, as a load balancer's does.
 */
const [url, duration, interval, fresh] = [
  process.argv[2],
  Number(process.argv[3]),
  Number(process.argv[4] ?? 50),
  process.argv[5] === "fresh",
];

/** One probe on a connection of its own: its status, or 0 when it was refused or reset. */
function freshProbe(): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/health`, { agent: false }, (res) => res.resume().once("end", () => resolve(res.statusCode ?? 0)));
    req.once("error", () => resolve(0));
  });
}

async function keptProbe(): Promise<number> {
  const res = await fetch(`${url}/health`);
  await res.arrayBuffer();
  return res.status;
}

const probe = fresh ? freshProbe : keptProbe;
await probe().catch(() => 0); // the first probe of a process loads its HTTP client: not measured
const latencies: number[] = [];
const stopAt = Date.now() + duration;
while (Date.now() < stopAt) {
  const started = performance.now();
  const status = await probe().catch(() => 0); // refused or reset: a failed probe, as a kubelet counts it
  latencies.push(status === 200 ? performance.now() - started : Number.POSITIVE_INFINITY);
  await new Promise((resolve) => setTimeout(resolve, interval));
}
console.log(JSON.stringify(latencies));

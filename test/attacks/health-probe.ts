/**
 * `node test/attacks/health-probe.ts <url> <milliseconds> [interval]`: asks GET /health every 50 ms (or interval) for that
 * long and prints the latencies (JSON). A process of its own, as a load balancer's probe is: what
 * it measures is the server, not the test process that also builds and reads the attack.
 */
const [url, duration, interval] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4] ?? 50)];
const latencies: number[] = [];
await (await fetch(`${url}/health`)).arrayBuffer(); // the first fetch of a process loads its HTTP client: not measured
const stopAt = Date.now() + duration;
while (Date.now() < stopAt) {
  const started = performance.now();
  try {
    const res = await fetch(`${url}/health`);
    await res.arrayBuffer();
    latencies.push(res.status === 200 ? performance.now() - started : Number.POSITIVE_INFINITY);
  } catch {
    latencies.push(Number.POSITIVE_INFINITY); // refused or reset: a failed probe, as a kubelet counts it
  }
  await new Promise((resolve) => setTimeout(resolve, interval));
}
console.log(JSON.stringify(latencies));

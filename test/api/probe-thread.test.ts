import { spawn } from "node:child_process";
import net from "node:net";
import readline from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGateway } from "../../src/server.ts";
import { configOver, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ PROBE_STALLED_MS: "1000" });
});
afterAll(async () => {
  await gw?.close();
});

/** What a process of its own got from GET `url` after each delay (ms after it said it was ready): status, body, ms taken. */
type Probed = Array<{ status: number; body: Record<string, unknown>; ms: number }>;

/**
 * Starts a process that probes `url` after each of `delays`, and resolves `ready` once it is
 * about to start counting (so the caller can then block its own event loop), `results` with what it got.
 */
function probeFromAnotherProcess(url: string, delays: number[]): { ready: Promise<void>; results: Promise<Probed> } {
  const script = `
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    console.log("ready");
    const start = Date.now(), results = [];
    for (const at of ${JSON.stringify(delays)}) {
      await sleep(at - (Date.now() - start));
      const t = Date.now();
      const res = await fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(5000) });
      results.push({ status: res.status, body: await res.json(), ms: Date.now() - t });
    }
    console.log(JSON.stringify(results));`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = readline.createInterface({ input: child.stdout });
  let readyNow: () => void;
  const ready = new Promise<void>((resolve) => (readyNow = resolve));
  const results = new Promise<Probed>((resolve) =>
    lines.on("line", (line) => (line === "ready" ? readyNow() : resolve(JSON.parse(line) as Probed))),
  );
  return { ready, results };
}

/** Keeps this thread (the API's event loop, in-process) busy for `ms`. */
function blockFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

describe("the probe port, on a thread of its own", () => {
  it("answers while the API's event loop is blocked, and 503 once it has been for PROBE_STALLED_MS; 200 again after", async () => {
    const probing = probeFromAnotherProcess(`${gw.probeUrl}/health`, [300, 2_000]);
    await probing.ready;
    blockFor(3_000);
    const [during, stalled] = await probing.results;
    expect(during.status).toBe(200);
    expect(during.ms).toBeLessThan(1_000); // the API's thread was blocked all along: it did not answer this
    expect(stalled).toMatchObject({
      status: 503,
      body: { code: "UNAVAILABLE", reason: expect.stringMatching(/event loop has not turned for \d/) },
    });
    await new Promise((resolve) => setTimeout(resolve, 500)); // a heartbeat
    expect((await fetch(`${gw.probeUrl}/health`)).status).toBe(200);
    expect((await fetch(`${gw.probeUrl}/ready`)).status).toBe(200);
  });

  it("serves the API's metrics with its own counts: sockets, and answers by status", async () => {
    await fetch(`${gw.probeUrl}/health`);
    await fetch(`${gw.probeUrl}/nowhere`);
    const text = await (await fetch(`${gw.probeUrl}/metrics`)).text();
    expect(text).toMatch(/^stoflow_db_pool_connections\{state="total"\} \d+/m); // the API thread's
    expect(text).toMatch(/^stoflow_probe_answers\{status="404"\} [1-9]/m);
    expect(text).toMatch(/^stoflow_http_sockets\{listener="probe",state="open"\} [1-9]/m); // this very request's socket
    expect(text).toMatch(/^stoflow_process_process_resident_memory_bytes \d+/m);
  });

  it("refuses a PROBE_PORT that is taken with a clear message", async () => {
    const taken = net.createServer().listen(0);
    await new Promise((resolve) => taken.once("listening", resolve));
    const probePort = (taken.address() as net.AddressInfo).port;
    try {
      await expect(startGateway(gw.db.appUrl, configOver(gw.db, { PORT: "0", PROBE_PORT: String(probePort) }))).rejects.toThrow(
        `Port ${probePort} is already in use: stop the other server or set PROBE_PORT`,
      );
    } finally {
      taken.close();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";
import { http, signUp, spawnServer } from "../helpers/gateway.ts";
import { GENEROUS_LIMITS } from "../helpers/limits.ts";
import { startMailbox, type Mailbox } from "../helpers/mail.ts";
import { stallingRelay, type StallingRelay } from "../helpers/proxy.ts";
import type { Shape } from "./crowd.ts";
import { attackRecorder, recordFigures } from "./recorder.ts";
import {
  describeSiege,
  percentile,
  siege,
  startControlServer,
  transportCounts,
  type SecondCrowd,
  type Siege,
  type Target,
} from "./siege.ts";

const record = attackRecorder(import.meta.filename, "crowds of addresses");

/**
 * The server's caps, scaled down so that a crowd reaches them within seconds on this machine
 * (the defaults: ¾ of the open-file limit, and a 256th of the memory). The crowd opens at most
 * 500 connections a second, as the issue measured (it kept everyone out for 30 s).
 */
const MAX_CONNECTIONS = 2_000;
const BODY_BUDGET_MB = 24;
const PER_SECOND = 500;

let db: TestDatabase;
let mailbox: Mailbox;
let relay: StallingRelay;
let server: Awaited<ReturnType<typeof spawnServer>>;
let target: Target;
let control: Awaited<ReturnType<typeof startControlServer>>;

beforeAll(async () => {
  db = await createTestDatabase();
  mailbox = await startMailbox();
  relay = await stallingRelay(Number(new URL(mailbox.url).port));
  // GRAPHQL_PLAN_CACHE_SIZE: grafast's plans keep their documents whole (100 plans of 95 kB
  // documents: ≈ 50 MB, kept after a flood of new documents, a bounded cache, not the flood's memory).
  server = await spawnServer(db.appUrl, {
    GRAPHQL_PLAN_CACHE_SIZE: "10",
    ...GENEROUS_LIMITS,
    JOBS_DATABASE_URL: db.jobsUrl,
    HTTP_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
    HTTP_BODY_BUDGET_MB: String(BODY_BUDGET_MB),
    JOBS_IN_PROCESS: "true",
    SMTP_URL: `smtp://127.0.0.1:${relay.port}`,
    SMTP_GREETING_TIMEOUT: "2",
    JOBS_POLL_INTERVAL_MS: "200",
  });
  const tenant = await signUp(server.url, "Crowded Shop", "standard");
  control = await startControlServer();
  target = { url: server.url, probeUrl: server.probeUrl, pid: server.child.pid!, token: tenant.access_token, controlUrl: control.url };
}, 120_000);
afterAll(async () => {
  control?.stop();
  server?.child.kill();
  await server?.exited;
  await relay?.close();
  await mailbox?.close();
  await db?.close();
});

/**
 * The targets of the issue, checked the way a busy 2-core machine allows: percentiles over many
 * samples, and what the machine alone adds to a probe (the p99 of a server nobody attacks, probed
 * the same way at the same time) not counted against the server.
 */
function expectTargetsHeld(result: Siege): void {
  const summary = describeSiege(result);
  const machine = percentile(result.control, 0.99);
  expect(result.probePort.every(Number.isFinite), summary).toBe(true);
  expect(percentile(result.probePort, 0.99), summary).toBeLessThan(250 + machine);
  expect(result.tenant.every(Number.isFinite), summary).toBe(true);
  expect(percentile(result.tenant, 0.99), summary).toBeLessThan(2_000 + machine);
  expect(percentile(result.mainPort, 0.5), summary).toBeLessThan(2_000);
  expect(result.rss.after, summary).toBeLessThanOrEqual(result.rss.before * 1.2);
}

/** Sieges the server with `shape`, checks the targets and that the defence named by `acted` worked, records the figures. */
async function withstand(
  shape: Shape,
  addresses: number,
  perAddress: number,
  acted: (before: Record<string, number>, after: Record<string, number>) => void,
  { atProbePort = false, reconnectMs = 0, beside }: { atProbePort?: boolean; reconnectMs?: number; beside?: SecondCrowd } = {},
) {
  const before = await transportCounts(target.probeUrl);
  const result = await siege(target, shape, { addresses, perAddress, perSecond: PER_SECOND, reconnectMs, beside }, { atProbePort });
  const after = await transportCounts(target.probeUrl);
  expectTargetsHeld(result);
  expect(after["body_bytes.peak"]).toBeLessThanOrEqual(BODY_BUDGET_MB * 1024 * 1024);
  acted(before, after);
  const changed = Object.entries(after)
    .filter(([name, value]) => !name.startsWith("body_bytes") && !name.endsWith("open") && value !== before[name])
    .map(([name, value]) => `${name} +${value - (before[name] ?? 0)}`);
  return { result, figures: `${describeSiege(result)}; server: ${changed.join(", ")}` };
}

const grew = (before: Record<string, number>, after: Record<string, number>, ...names: string[]) =>
  names.reduce((sum, name) => sum + (after[name] - before[name]), 0);

describe("a crowd of addresses against a running server (HTTP_MAX_CONNECTIONS=2000)", () => {
  it("connection exhaustion: 100 addresses × 30 sockets sending headers and the start of a body", { timeout: 120_000 }, async () => {
    const attack =
      "connection exhaustion: 100 addresses × 30 sockets, each a request's headers and the first bytes of a 99 kB body, reopened as the server closes them";
    const { figures } = await withstand("partial requests", 100, 30, (before, after) => {
      expect(
        grew(before, after, "sockets.main.evicted", "sockets.main.too_slow", "bodies_refused.refused", "bodies_refused.evicted"),
      ).toBeGreaterThan(0);
    });
    record(
      attack,
      3_000,
      "the probe port answers (p99 < 250 ms) and a signed-in tenant is served (p99 < 2 s); bodies stay within the budget; RSS back within 20 % after",
    );
    recordFigures(import.meta.filename, attack, figures);
  });

  it("idle sockets: 60 addresses × 50 sockets that send nothing", { timeout: 120_000 }, async () => {
    const attack = "idle sockets: 60 addresses × 50 sockets that send nothing, reopened as the server closes them";
    const { figures } = await withstand("idle", 60, 50, (before, after) => {
      expect(grew(before, after, "sockets.main.evicted", "sockets.main.too_slow", "sockets.main.refused")).toBeGreaterThan(0);
    });
    record(
      attack,
      3_000,
      "closed after the grace (no bytes), or to make room at the cap; the probe port answers (p99 < 250 ms), a tenant is served (p99 < 2 s); RSS back within 20 %",
    );
    recordFigures(import.meta.filename, attack, figures);
  });

  it("slow headers: 100 addresses × 30 sockets dripping a header line every 2 s", { timeout: 120_000 }, async () => {
    const attack = "slow headers: 100 addresses × 30 sockets dripping a header line every 2 s, reopened as the server closes them";
    const { figures } = await withstand("slow headers", 100, 30, (before, after) => {
      expect(grew(before, after, "sockets.main.too_slow")).toBeGreaterThan(0);
    });
    record(
      attack,
      3_000,
      "closed below the minimum rate after the grace; the probe port answers (p99 < 250 ms), a tenant is served (p99 < 2 s); RSS back within 20 %",
    );
    recordFigures(import.meta.filename, attack, figures);
  });

  it("slow bodies: 300 addresses × 8 requests holding 99 kB of a 100 kB body", { timeout: 120_000 }, async () => {
    const attack = "slow bodies: 300 addresses × 8 requests, each 99 kB of a 100 kB body then nothing (237 MB asked of a 24 MB budget)";
    const { figures } = await withstand("slow bodies", 300, 8, (before, after) => {
      expect(grew(before, after, "bodies_refused.refused", "bodies_refused.evicted")).toBeGreaterThan(0);
    });
    record(
      attack,
      2_400,
      "bodies held never exceed the budget (the heaviest addresses' make room, the rest 503 BUSY); the probe port answers (p99 < 250 ms), a tenant is served (p99 < 2 s); RSS back within 20 %",
    );
    recordFigures(import.meta.filename, attack, figures);
  });

  it("the probe port's cap (32): 100 addresses × 5 sockets that send nothing, reopened at once", { timeout: 120_000 }, async () => {
    const attack = "the probe port's 32 sockets: 100 addresses × 5 sockets that send nothing, reopened as the server closes them";
    const { figures } = await withstand(
      "idle",
      100,
      5,
      (before, after) => {
        expect(grew(before, after, "sockets.probe.evicted")).toBeGreaterThan(100);
      },
      { atProbePort: true },
    );
    record(
      attack,
      500,
      "each new connection closes the socket of the client that holds most and connected most lately, however young (no whole request yet): the probes keep answering (p99 < 250 ms), a tenant is served",
    );
    recordFigures(import.meta.filename, attack, figures);
  });

  it(
    "the probe port's cap (32): a gentle crowd of 40 addresses × 2 idle sockets, each back 1–5 s after the server closes it",
    { timeout: 120_000 },
    async () => {
      const attack =
        "the probe port's 32 sockets: 40 addresses × 2 sockets that send nothing, each reopened 1–5 s after the server closes it (as slow to come back as a prober)";
      const { figures } = await withstand(
        "idle",
        40,
        2,
        (before, after) => {
          expect(grew(before, after, "sockets.probe.evicted")).toBeGreaterThan(40);
        },
        { atProbePort: true, reconnectMs: 1_000 },
      );
      record(
        attack,
        80,
        "a newcomer closes the heaviest client's socket, or else the one that has given nothing longest (250 ms at least); a client whose sockets were closed for giving nothing weighs more: every probe on a new connection answers (p99 < 250 ms)",
      );
      recordFigures(import.meta.filename, attack, figures);
    },
  );

  it("cheap requests: 300 addresses each keeping 16 pipelined /health in progress on the API's port", { timeout: 120_000 }, async () => {
    const attack =
      "cheap requests: 300 addresses each keeping 16 GET /health pipelined on the API's port, 16 more as soon as they are answered (the API's event loop kept busy)";
    // Without a share per iteration of the event loop, each iteration served the crowd's 4,800
    // requests (about 90 ms), and libuv accepts one connection per listening socket and iteration:
    // the tenant's new connection waited behind the crowd's own in the kernel's queue, 5 s and more
    // (src/admission/loop-share.ts, src/http/acceptors.ts).
    const { figures } = await withstand("pipelined probes", 300, 1, (before, after) => {
      // The crowd was served, not shut out: the guards closed none of its sockets.
      expect(grew(before, after, "sockets.main.refused", "sockets.main.pipelined")).toBe(0);
    });
    record(
      attack,
      300,
      "the probe port answers from a thread of its own, its event loop not the API's (p99 < 250 ms; 164 / 467 ms p50 / p99 when it shared the API's); a signed-in tenant is served (p99 < 2 s; every request timed out before HTTP_REQUESTS_PER_ITERATION and HTTP_ACCEPTORS); RSS back within 20 %",
    );
    recordFigures(import.meta.filename, attack, figures);
  });

  it("answers that wait in no line: 500 addresses each keeping 8 pipelined 404s in progress", { timeout: 120_000 }, async () => {
    const attack =
      "answers that wait in no line: 500 addresses each keeping 8 GET of a missing path pipelined on the API's port, 8 more as soon as they are answered";
    const { figures } = await withstand("pipelined 404s", 500, 1, (before, after) => {
      expect(grew(before, after, "requests_deferred.")).toBeGreaterThan(0);
    });
    record(
      attack,
      500,
      "each iteration of the event loop starts at most HTTP_REQUESTS_PER_ITERATION requests, the waiting ones one address at a time in turn, so new connections are accepted and database answers read between: a signed-in tenant is served (p99 < 2 s; 1,000 addresses × 4 timed out every tenant request before), the probe port answers (p99 < 250 ms)",
    );
    recordFigures(import.meta.filename, attack, figures);
  });

  it("many addresses, a few requests each: 1,500 addresses each keeping 4 pipelined 404s in progress", { timeout: 120_000 }, async () => {
    const attack =
      "many addresses, a few requests each: 1,500 addresses each keeping 4 GET of a missing path pipelined on the API's port, 4 more as soon as they are answered";
    const { result, figures } = await withstand("a few pipelined 404s", 1_500, 1, (before, after) => {
      expect(grew(before, after, "requests_deferred.")).toBeGreaterThan(0);
    });
    // Waiting one turn per address, the tenant's query took p50 427 ms here; in the signed-in rotation, 47 ms.
    expect(percentile(result.tenant, 0.5), figures).toBeLessThan(300 + percentile(result.control, 0.99));
    record(
      attack,
      1_500,
      "a waiting request whose bearer token verifies takes its turn in a rotation of signed-in tenants, served before the anonymous addresses (three starts in four): a signed-in tenant is served (p99 < 2 s; one turn per address kept it 3–6 s behind 3,000–5,000 addresses in the seventh outside attack), the probe port answers (p99 < 250 ms)",
    );
    recordFigures(import.meta.filename, attack, figures);
  });

  it(
    "cheap requests with a crowd of new connections beside: 300 addresses pipelining /health, 300 more reconnecting",
    { timeout: 120_000 },
    async () => {
      const attack =
        "cheap requests and new connections: 300 addresses each keeping 16 GET /health pipelined, and 300 others each keeping 2 connections of one GET /health (Connection: close), reconnecting at once";
      const beside: SecondCrowd = { shape: "a request per connection", addresses: 300, perAddress: 2 };
      const { figures } = await withstand(
        "pipelined probes",
        300,
        1,
        (before, after) => {
          expect(grew(before, after, "requests_deferred.")).toBeGreaterThan(0);
        },
        { beside },
      );
      record(
        attack,
        900,
        "a newcomer's connection waits behind the crowd's in the kernel's queues no longer than a few short iterations (HTTP_ACCEPTORS listening sockets, HTTP_REQUESTS_PER_ITERATION): a signed-in tenant is served (p99 < 2 s; 118 of 119 timed out before), the probe port answers (p99 < 250 ms)",
      );
      recordFigures(import.meta.filename, attack, figures);
    },
  );

  it("never-seen documents: 300 addresses each keeping a new 95 kB document in flight", { timeout: 120_000 }, async () => {
    const attack =
      "never-seen documents: 300 addresses each keeping a new 95 kB GraphQL document (a long string literal) in flight, the next sent as soon as one is answered";
    const { figures } = await withstand("new documents", 300, 1, (before, after) => {
      expect(grew(before, after, "graphql_new_documents.refused", "bodies_refused.refused", "bodies_refused.evicted")).toBeGreaterThan(0);
    });
    record(
      attack,
      300,
      "their parse, validation and planning take at most GRAPHQL_NEW_DOCUMENT_MS of each second, fairly between addresses, the rest 503 BUSY before parsing: the probe port answers (p99 < 250 ms), a tenant's known query is served (p99 < 2 s); RSS back within 20 %",
    );
    recordFigures(import.meta.filename, attack, figures);
  });

  it("GraphQL sign-ins written into their documents: 300 addresses × 2 in flight", { timeout: 120_000 }, async () => {
    const attack =
      "GraphQL sign-ins with the e-mail written into the document (every document new): 300 addresses × 2 in flight, the next sent as soon as one is answered";
    const { figures } = await withstand("new sign-ins", 300, 2, (before, after) => {
      expect(grew(before, after, "graphql_new_documents.refused")).toBeGreaterThan(0);
    });
    record(
      attack,
      600,
      "new documents beyond the budget of event-loop time 503 BUSY before parsing, the rest wait in bcrypt's line (503 BUSY beyond, HTTP status and Retry-After as REST's): the probe port answers (p99 < 250 ms), a tenant's known query is served (p99 < 2 s)",
    );
    recordFigures(import.meta.filename, attack, figures);
  });

  it("a stalled SMTP relay: every other connection gets no greeting; account messages keep flowing", { timeout: 120_000 }, async () => {
    relay.stall();
    const queued = Date.now();
    const shops = await Promise.all(Array.from({ length: 16 }, (_, i) => signUp(server.url, `Relay Shop ${i}`)));
    const result = await siege(target, undefined, { addresses: 0, perAddress: 0, perSecond: 0 }, { rampMs: 0, measureMs: 10_000 });
    const delivered = shops.filter((shop) => mailbox.to(shop.email).length > 0).length;
    const seconds = (Date.now() - queued) / 1000;
    expectTargetsHeld(result);
    // Before, 2 workers each held 30 s by a silent relay: about 4 messages a minute.
    expect(delivered).toBeGreaterThanOrEqual(8);
    expect((await http(server.url, "GET", "/health")).status).toBe(200);
    const attack = "a stalled SMTP relay: every other connection accepted and never greeted, while 16 accounts register";
    record(
      attack,
      16,
      "the greeting timeout frees the worker, the job is retried with backoff, the other workers deliver: at least half the messages within 10 s; probes and tenant served",
    );
    recordFigures(
      import.meta.filename,
      attack,
      `${delivered} of 16 messages delivered within ${seconds.toFixed(0)} s (SMTP_GREETING_TIMEOUT=2, JOBS_CONCURRENCY=8); ${describeSiege(result)}`,
    );
  });
});

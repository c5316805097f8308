import client from "prom-client";
import type { SocketCounts } from "../admission/socket-guard.ts";
import type { ApiListener } from "./listeners.ts";
import type { ProbeCounts } from "./probe-thread.ts";

/**
 * The sockets of both listeners and the bytes of bodies held, in /metrics: how close a crowd
 * came to the caps, and what the guards closed or refused. `probeCounts`: the probe thread's
 * (probe-thread.ts), asked as /metrics is rendered.
 */
export function registerTransportMetrics(
  registry: client.Registry,
  { sockets, bodies, loop }: ApiListener,
  bodyBudgetBytes: number,
  probeCounts: () => Promise<ProbeCounts>,
): void {
  new client.Gauge({
    name: "stoflow_http_sockets",
    help: "Sockets open, and closed or refused since start, by listener (main, probe) and state (pipelined: closed for too many requests at once).",
    labelNames: ["listener", "state"],
    registers: [registry],
    async collect() {
      const probe = await probeCounts();
      const counts: Array<[string, SocketCounts]> = [
        ["main", sockets.counts],
        ["probe", probe.sockets],
      ];
      for (const [listener, { open, refused, evicted, tooSlow, pipelined }] of counts) {
        this.set({ listener, state: "open" }, open);
        this.set({ listener, state: "refused" }, refused);
        this.set({ listener, state: "evicted" }, evicted);
        this.set({ listener, state: "too_slow" }, tooSlow);
        this.set({ listener, state: "pipelined" }, pipelined);
      }
    },
  });
  new client.Gauge({
    name: "stoflow_http_body_bytes",
    help: "Bytes reserved for request bodies in progress (held), the most ever held (peak) and the budget.",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.set({ state: "held" }, bodies.counts.held);
      this.set({ state: "peak" }, bodies.counts.peak);
      this.set({ state: "budget" }, bodyBudgetBytes);
    },
  });
  new client.Gauge({
    name: "stoflow_http_bodies_refused",
    help: "Bodies refused for want of room (refused), and bodies closed to make room (evicted), since start.",
    labelNames: ["reason"],
    registers: [registry],
    collect() {
      this.set({ reason: "refused" }, bodies.counts.refused);
      this.set({ reason: "evicted" }, bodies.counts.evicted);
    },
  });
  new client.Gauge({
    name: "stoflow_http_requests_deferred",
    help: "Requests of the API's port that waited for a later iteration of the event loop (HTTP_REQUESTS_PER_ITERATION), since start.",
    registers: [registry],
    collect() {
      this.set(loop.deferred);
    },
  });
  new client.Gauge({
    name: "stoflow_probe_answers",
    help: "Requests the probe port (PROBE_PORT) answered since start, by HTTP status.",
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      for (const [status, count] of Object.entries((await probeCounts()).answers)) this.set({ status }, count);
    },
  });
}

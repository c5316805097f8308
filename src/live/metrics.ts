import client from "prom-client";
import type { LiveUpdates } from "./start.ts";

/** Live updates in /metrics: sockets, subscriptions, the LISTEN connection, events, and what was closed or refused. */
export function registerLiveMetrics(registry: client.Registry, { hub, sockets, listener }: LiveUpdates): void {
  new client.Gauge({
    name: "stoflow_live_sockets",
    help: "Subscription sockets open, and refused or closed since start, by state (refused: at the upgrade or the tenant's cap; busy: sign-ins and subscription starts beyond LIVE_STARTS_PER_SECOND; slow_consumer, unanswered: no pong, session_ended, expired, protocol_error: a frame refused, too_many_messages).",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      const { refused, busy, slowConsumers, unanswered, sessionsEnded, expired, protocolErrors, tooManyMessages } = sockets.counts;
      this.set({ state: "open" }, sockets.open);
      this.set({ state: "refused" }, refused);
      this.set({ state: "busy" }, busy);
      this.set({ state: "slow_consumer" }, slowConsumers);
      this.set({ state: "unanswered" }, unanswered);
      this.set({ state: "session_ended" }, sessionsEnded);
      this.set({ state: "expired" }, expired);
      this.set({ state: "protocol_error" }, protocolErrors);
      this.set({ state: "too_many_messages" }, tooManyMessages);
    },
  });
  new client.Gauge({
    name: "stoflow_live_unread_bytes",
    help: "Bytes subscription sockets leave unread, summed four times a second (held: at the last sum; peak: the most since start), within LIVE_SEND_BUFFER_TOTAL_MB.",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      this.set({ state: "held" }, sockets.sendBudget.held);
      this.set({ state: "peak" }, sockets.sendBudget.peak);
    },
  });
  new client.Gauge({
    name: "stoflow_live_subscriptions",
    help: "Subscriptions open in this process.",
    registers: [registry],
    collect() {
      this.set(hub.subscriptions);
    },
  });
  new client.Gauge({
    name: "stoflow_live_listening",
    help: "1 while the LISTEN connection is up, 0 while it reconnects (subscribers then get RESYNC).",
    registers: [registry],
    collect() {
      this.set(listener.listening ? 1 : 0);
    },
  });
  new client.Gauge({
    name: "stoflow_live_events",
    help: "Since start: notifications received, events delivered to subscriptions, RESYNC rounds (the LISTEN connection back), backlogs replaced by a RESYNC (a subscriber too far behind), malformed notifications dropped.",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      for (const [kind, count] of Object.entries(hub.counts)) this.set({ kind }, count);
    },
  });
}

import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { SendBudget } from "../../src/live/send-budget.ts";

const MB = 1024 * 1024;
const opened: Array<{ close: () => void }> = [];
afterEach(() => opened.splice(0).forEach((o) => o.close()));

/** A WebSocket server on loopback and `count` clients of it; `paused` clients read nothing. */
async function sockets(count: number, paused: (i: number) => boolean) {
  const server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  opened.push(server);
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as { port: number };
  const accepted: WebSocket[] = [];
  server.on("connection", (ws) => accepted.push(ws));
  const clients = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const client = new WebSocket(`ws://127.0.0.1:${port}`);
      opened.push(client);
      await new Promise((resolve) => client.once("open", resolve));
      if (paused(i)) client.pause();
      return client;
    }),
  );
  while (accepted.length < count) await new Promise((resolve) => setTimeout(resolve, 10));
  return { clients, accepted };
}

describe("the unread bytes of all subscription sockets (LIVE_SEND_BUFFER_TOTAL_MB)", () => {
  it("closes the readers holding the most until the rest fit, and never one that reads", async () => {
    const { accepted } = await sockets(4, (i) => i < 3);
    const closed: WebSocket[] = [];
    const budget = new SendBudget(64 * MB, 12 * MB, (ws) => (closed.push(ws), ws.terminate()));
    budget.stop(); // swept by the test alone
    const message = "x".repeat(MB);
    // Three readers that stopped reading: 10, 10 and 4 MB sent beyond what the kernel takes; one that reads.
    const sent = [30, 30, 24, 30];
    for (let round = 0; round < 30; round++) {
      accepted.forEach((ws, i) => round < sent[i] && budget.send(ws, message));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 200)); // the reader drains
    const unread = accepted.map((ws) => ws.bufferedAmount);
    budget.sweep();
    const kept = accepted.filter((ws) => !closed.includes(ws));
    expect(closed.length, `unread before: ${unread.join(", ")}`).toBeGreaterThan(0);
    expect(closed).not.toContain(accepted[3]);
    // The closed ones are the heaviest: none kept holds more than one closed did.
    const heaviestKept = Math.max(...kept.map((ws) => unread[accepted.indexOf(ws)]));
    for (const ws of closed) expect(unread[accepted.indexOf(ws)]).toBeGreaterThanOrEqual(heaviestKept);
    expect(budget.held).toBeLessThanOrEqual(12 * MB);
    expect(budget.peak).toBe(unread.reduce((a, b) => a + b));
  });

  it("refuses a send to a socket over its own cap, whatever the total", async () => {
    const { accepted } = await sockets(1, () => true);
    const budget = new SendBudget(2 * MB, 1024 * MB, () => undefined);
    budget.stop();
    const message = "x".repeat(MB);
    let refusedAt = -1;
    for (let i = 0; i < 64 && refusedAt < 0; i++) {
      if (!budget.send(accepted[0], message)) refusedAt = i;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(refusedAt).toBeGreaterThan(0);
    expect(accepted[0].bufferedAmount).toBeGreaterThan(2 * MB);
    expect(accepted[0].bufferedAmount).toBeLessThanOrEqual(3 * MB);
  });
});

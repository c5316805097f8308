import type { WebSocket } from "ws";

/** How often the unread bytes of the whole process are summed. */
const SWEEP_MS = 250;

/**
 * The bytes subscription sockets leave unread: each socket's own (LIVE_SEND_BUFFER_BYTES), and
 * all sockets' together (LIVE_SEND_BUFFER_TOTAL_MB). Under its own cap, each of 20,000 readers
 * that stop reading could still hold a megabyte, 20 GB in all; so every `SWEEP_MS` the sockets
 * holding unread bytes are summed and, beyond the total, the heaviest are closed until the rest
 * fit. A socket the kernel drains at once is never tracked.
 *
 * ws itself bounds nothing it is asked to send (its `bufferedAmount` only reports), and
 * graphql-ws hands it every message; nothing in the kept libraries bounds a process's sum.
 */
export class SendBudget {
  readonly #perSocket: number;
  readonly #total: number;
  readonly #close: (ws: WebSocket) => void;
  /** Sockets that held unread bytes after a send, since the last sweep or before. */
  readonly #holding = new Set<WebSocket>();
  readonly #sweeping: NodeJS.Timeout;
  /** Unread bytes of all sockets after the last sweep, and the most a sweep found (for /metrics). */
  held = 0;
  peak = 0;

  /** `close`: how a socket over budget is closed (counted as a slow consumer). */
  constructor(perSocket: number, total: number, close: (ws: WebSocket) => void) {
    this.#perSocket = perSocket;
    this.#total = total;
    this.#close = close;
    this.#sweeping = setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  /** Sends `data` on `ws` unless it leaves more than its own cap unread; false then (the caller closes it). */
  send(ws: WebSocket, data: string): boolean {
    if (ws.bufferedAmount > this.#perSocket) return false;
    if (ws.readyState !== ws.OPEN) return true;
    ws.send(data);
    if (ws.bufferedAmount > 0) this.#holding.add(ws);
    return true;
  }

  /** Sums what the sockets hold; beyond the total, closes the heaviest until the rest fit. */
  sweep(): void {
    const holding: Array<[WebSocket, number]> = [];
    let sum = 0;
    for (const ws of this.#holding) {
      const unread = ws.readyState === ws.OPEN ? ws.bufferedAmount : 0;
      if (unread === 0) {
        this.#holding.delete(ws);
        continue;
      }
      holding.push([ws, unread]);
      sum += unread;
    }
    this.peak = Math.max(this.peak, sum);
    if (sum > this.#total) {
      holding.sort((a, b) => b[1] - a[1]);
      for (const [ws, unread] of holding) {
        if (sum <= this.#total) break;
        this.#holding.delete(ws);
        this.#close(ws);
        sum -= unread;
      }
    }
    this.held = sum;
  }

  stop(): void {
    clearInterval(this.#sweeping);
  }
}

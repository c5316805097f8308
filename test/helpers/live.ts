import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { until } from "./until.ts";

/** What a subscription received, and how its socket ended. */
export interface LiveClient {
  client: Client;
  /** `data` of each event, per subscription name given to `follow`. */
  events: Map<string, Record<string, unknown>[]>;
  /** Errors a subscription ended with. */
  errors: Map<string, unknown[]>;
  /** The socket's close code and reason, once closed. */
  closed: { code: number; reason: string } | undefined;
  /** Starts a subscription; resolves once the server acknowledged the connection. */
  follow(name: string, query: string): Promise<void>;
  /** Waits until `name` received `count` events. */
  received(name: string, count: number, timeoutMs?: number): Promise<Record<string, unknown>[]>;
  dispose(): Promise<void>;
}

/**
 * A graphql-ws client on the gateway's /graphql (http URL), with `token` in connectionParams (none:
 * anonymous), from `localAddress` (127.x.y.z loopback addresses are distinct clients).
 */
export function liveClient(
  url: string,
  token: string | undefined,
  { headers = {}, localAddress }: { headers?: Record<string, string>; localAddress?: string } = {},
): LiveClient {
  let connected!: () => void;
  let failed!: (reason: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => ((connected = resolve), (failed = reject)));
  const live: LiveClient = {
    client: undefined as unknown as Client,
    events: new Map(),
    errors: new Map(),
    closed: undefined,
    async follow(name, query) {
      live.events.set(name, []);
      live.errors.set(name, []);
      live.client.subscribe(
        { query },
        {
          next: (value) => live.events.get(name)!.push(value as Record<string, unknown>),
          error: (error) => live.errors.get(name)!.push(error),
          complete: () => undefined,
        },
      );
      await ready;
    },
    async received(name, count, timeoutMs = 10_000) {
      await until(`${count} events on ${name}`, () => (live.events.get(name)?.length ?? 0) >= count, timeoutMs);
      return live.events.get(name)!;
    },
    async dispose() {
      await live.client.dispose();
    },
  };
  class HeaderedSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { headers, ...(localAddress ? { localAddress } : {}) });
    }
  }
  live.client = createClient({
    url: url.replace(/^http/, "ws") + "/graphql",
    webSocketImpl: HeaderedSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: token === undefined ? {} : { authorization: `Bearer ${token}` },
    on: {
      connected: () => connected(),
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        live.closed = { code, reason: String(reason) };
        failed(live.closed);
      },
    },
  });
  ready.catch(() => undefined);
  return live;
}

/** Waits until the socket closed; returns its code and reason. */
export async function closedWith(live: LiveClient, timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
  await until("the socket to close", () => live.closed !== undefined, timeoutMs);
  return live.closed!;
}

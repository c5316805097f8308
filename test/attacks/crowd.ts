import net from "node:net";

/**
 * `node test/attacks/crowd.ts <shape> <port> <addresses> <sockets per address> <connections per second> <milliseconds> [reconnect ms] [network]`:
 * a crowd of clients, each from a loopback address of its own (127.<network, 1>.x.y), each keeping its
 * sockets open in one of the shapes below and opening a new one whenever the server closes one
 * (at once, or after 1 to 5 times `reconnect ms`: a gentle crowd, as slow to come back as a prober),
 * all together at most that many new connections a second (the crowd: about 500), for
 * that long; then prints what happened (JSON). A process of its own, as a botnet is: its CPU is
 * not the test's.
 */
let serial = 0;
const PADDING = "x".repeat(95_000);

/** `count` copies of `request` pipelined, `count` more each time all are answered: requests always in progress. */
function pipelining(request: string, count: number) {
  return (socket: net.Socket) => {
    const batch = request.repeat(count);
    let answered = 0;
    socket.on("data", (chunk: Buffer) => {
      answered += chunk.toString("latin1").split("HTTP/1.1 ").length - 1;
      if (answered < count) return;
      answered -= count;
      socket.write(batch);
    });
    socket.write(batch);
  };
}

export const SHAPES = {
  /** Connects and sends nothing. */
  idle: () => {},
  /** Headers a line at a time, a line every 2 s (slower than any minimum rate, under Node's headersTimeout for a while). */
  "slow headers": (socket: net.Socket) => {
    socket.write("POST /graphql HTTP/1.1\r\nHost: x\r\n");
    const drip = setInterval(() => socket.write(`X-Drip-${Date.now()}: 1\r\n`), 2_000);
    socket.once("close", () => clearInterval(drip));
  },
  /** Headers and 99 kB of a 100 kB body, then nothing: the body held in memory, the socket kept. */
  "slow bodies": (socket: net.Socket) => {
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"query":"${"x".repeat(99_000)}`,
    );
  },
  /** Headers and the first bytes of a 99 kB body, then nothing (the connection exhaustion of the issue). */
  "partial requests": (socket: net.Socket) => {
    socket.write(`POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99000\r\n\r\n{"query":"`);
  },
  /** 16 GET /health pipelined, 16 more each time all are answered: cheap requests always in progress (the third outside attack on issue 24). */
  "pipelined probes": pipelining("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 16),
  /** 8 GET of a path that does not exist, pipelined, 8 more each time all are answered: answers that wait in no line (the sixth outside attack on issue 24). */
  "pipelined 404s": pipelining("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 8),
  /** 4 such GETs pipelined, from thousands of addresses: a turn of the loop share per address (the seventh outside attack on issue 24). */
  "a few pipelined 404s": pipelining("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 4),
  /** One GET /health with `Connection: close`: the server closes the socket once it has answered, and the client connects again at once. */
  "a request per connection": (socket: net.Socket) => socket.write("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
  /** A GraphQL document never seen before, of 95 kB (a long string literal), sent whole; the server closes the socket after answering. */
  "new documents": (socket: net.Socket) => {
    const body = JSON.stringify({
      query: `query Q { products(first: 1, filter: { title: { equalTo: "${serial++}${PADDING}" } }) { totalCount } }`,
    });
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  },
  /** A sign-in written into the document (so every document is new), with a wrong password; the server closes the socket after answering. */
  "new sign-ins": (socket: net.Socket) => {
    const body = JSON.stringify({
      query: `mutation { login(input: { email: "crowd${serial++}@crowd.test", password: "a wrong password" }) { accessToken } }`,
    });
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  },
} satisfies Record<string, (socket: net.Socket) => void>;

export type Shape = keyof typeof SHAPES;

/** What the crowd saw: sockets opened, closed by the server (or refused), and the most open at once. */
export interface CrowdReport {
  opened: number;
  closed: number;
  peakOpen: number;
}

/** New connections are let through in slices of this many milliseconds. */
const SLICE_MS = 10;

export async function crowd(
  shape: Shape,
  port: number,
  addresses: number,
  perAddress: number,
  perSecond: number,
  durationMs: number,
  reconnectMs = 0,
  network = 1,
): Promise<CrowdReport> {
  const report: CrowdReport = { opened: 0, closed: 0, peakOpen: 0 };
  let open = 0;
  const stopAt = Date.now() + durationMs;
  const sockets = new Set<net.Socket>();
  const waiting: string[] = [];
  const slices = setInterval(() => {
    for (const localAddress of waiting.splice(0, Math.ceil((perSecond * SLICE_MS) / 1000))) connect(localAddress);
  }, SLICE_MS);
  const keep = (localAddress: string) => {
    if (Date.now() < stopAt) waiting.push(localAddress);
  };
  const connect = (localAddress: string) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress }, () => {
      report.opened += 1;
      report.peakOpen = Math.max(report.peakOpen, ++open);
      SHAPES[shape](socket);
      socket.once("close", () => (open -= 1));
    });
    sockets.add(socket);
    socket.on("error", () => undefined).on("data", () => undefined);
    socket.once("close", () => {
      sockets.delete(socket);
      report.closed += 1;
      setTimeout(() => keep(localAddress), reconnectMs * (1 + 4 * Math.random()));
    });
  };
  for (let a = 0; a < addresses; a++) {
    const localAddress = `127.${network}.${Math.floor(a / 250)}.${(a % 250) + 1}`;
    for (let s = 0; s < perAddress; s++) keep(localAddress);
  }
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  clearInterval(slices);
  for (const socket of sockets) socket.destroy();
  return report;
}

if (process.argv[1] === import.meta.filename) {
  const [shape, port, addresses, perAddress, perSecond, ms, reconnectMs, network] = process.argv
    .slice(2)
    .map((arg, i) => (i === 0 ? arg : Number(arg)));
  console.log(
    JSON.stringify(
      await crowd(
        shape as Shape,
        port as number,
        addresses as number,
        perAddress as number,
        perSecond as number,
        ms as number,
        reconnectMs as number | undefined,
        network as number | undefined,
      ),
    ),
  );
}

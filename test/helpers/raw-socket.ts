import net from "node:net";

/** What a raw socket received: its bytes (as latin1 text too), and whether the server ended it first. */
export interface Received {
  text: string;
  bytes: number;
  endedByServer: boolean;
}

/** Connects to `port` on 127.0.0.1 (from `localAddress`, another client) and writes `raw` at once. */
export function rawRequest(port: number, raw: string, localAddress?: string): net.Socket {
  const socket = net.connect({ port, host: "127.0.0.1", localAddress }, () => socket.write(raw));
  return socket.on("error", () => undefined);
}

/** Reads what `socket` has until the server ended it or nothing came for `quietMs`; then closes it. */
export function readUntilQuiet(socket: net.Socket, quietMs = 500): Promise<Received> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let quiet: NodeJS.Timeout;
    const finish = (endedByServer: boolean) => () => {
      clearTimeout(quiet);
      socket.destroy();
      const all = Buffer.concat(chunks);
      resolve({ text: all.toString("latin1"), bytes: all.length, endedByServer });
    };
    const wait = () => {
      clearTimeout(quiet);
      quiet = setTimeout(finish(false), quietMs);
    };
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      wait();
    });
    socket.once("end", finish(true));
    socket.once("close", finish(true));
    socket.resume();
    wait();
  });
}

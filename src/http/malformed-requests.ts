import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";

/** Node's parser errors with an answer of their own; anything else it cannot parse is a 400. */
const ANSWERS: Record<string, { status: number; code: string; detail: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: "HEADERS_TOO_LARGE", detail: "Request headers too large" },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: "REQUEST_TIMEOUT", detail: "The request took too long to arrive" },
};
const MALFORMED = { status: 400, code: "BAD_REQUEST", detail: "Malformed HTTP request" };

/** A socket's answer in progress, if any (Node's own default handler asks the same). */
type HttpSocket = Duplex & { _httpMessage?: { headersSent?: boolean } | null };

/**
 * Answers a request Node cannot parse (an unknown method, two Content-Lengths, Transfer-Encoding
 * with Content-Length, binary garbage, a TLS handshake, too large headers, too slow a request) as
 * every other refusal is answered, with a JSON body and a stable `code`, and closes the
 * connection. Node's own handler (used without a `clientError` listener) sends a status line with
 * no body. A socket already answering a request, or gone, is closed without a word.
 */
export function answerMalformed(error: NodeJS.ErrnoException, socket: HttpSocket): void {
  if (error.code === "ECONNRESET" || !socket.writable || socket._httpMessage?.headersSent) return void socket.destroy();
  const { status, code, detail } = ANSWERS[error.code ?? ""] ?? MALFORMED;
  const body = JSON.stringify({ detail, code });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

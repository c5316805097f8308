import type { IncomingMessage, ServerResponse } from "node:http";
import { getBodyFromFrameworkBody, type GrafservBase } from "postgraphile/grafserv";
import { NodeGrafservBase } from "postgraphile/grafserv/node";

/**
 * grafserv on Node's own request and response, taking the body the HTTP route has already
 * received (`req.body`, a Buffer from express.raw, read within GRAPHQL_MAX_BODY_BYTES before the
 * server's line is joined) instead of reading the stream itself, as grafserv's Express adapter does;
 * and with the media type of `Content-Type` in lower case, as grafserv expects it.
 */
export class ReceivedBodyGrafserv extends NodeGrafservBase {
  protected override getDigest(options: GrafservBase["dynamicOptions"], req: IncomingMessage, res: ServerResponse, isHttps: boolean) {
    const digest = super.getDigest(options, req, res, isHttps);
    // Media types are case-insensitive (RFC 9110 §8.3.1); grafserv compares them as written.
    const type = digest.headers["content-type"];
    if (type && /[A-Z]/.test(type)) digest.headers["content-type"] = type.replace(/^[^;]*/, (media) => media.toLowerCase());
    const body = (req as IncomingMessage & { body?: unknown }).body;
    return body == null ? digest : { ...digest, getBody: () => getBodyFromFrameworkBody(body) };
  }

  /** The request handler: `next()` when grafserv does not serve the path, `next(error)` on an error it does not answer itself. */
  handler(): (req: IncomingMessage, res: ServerResponse, next: (error?: Error) => void) => void {
    return this._createHandler(false);
  }
}

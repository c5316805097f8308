import type { IncomingMessage, ServerResponse } from "node:http";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import proxyAddr from "proxy-addr";
import { GRAPHQL_PATH } from "../graphql/context.ts";

/** A step of a request's way: Express's middleware signature, run here without Express's router. */
export type Step = (req: Request, res: Response, next: NextFunction) => unknown;
export type ErrorStep = (error: unknown, req: Request, res: Response, next: NextFunction) => unknown;

/** The path of a request target, without its query string. */
export function pathOf(url: string | undefined): string {
  const target = url ?? "/";
  const query = target.indexOf("?");
  return query < 0 ? target : target.slice(0, query);
}

/**
 * `/graphql` served past Express's router: the app's own steps for that path (log, metrics, CORS,
 * the two lines, the body, the bearer check), then grafserv, run in order as plain functions on
 * Node's request. Express's router, its per-request prototype swaps and its lazy getters cost
 * more CPU per request than everything else the gateway adds (docs/benchmarks.md).
 *
 * The steps read only what Express would have given them, set here once per request: `ip` (with
 * the app's `trust proxy` rule), `path`, `originalUrl`, and `res.locals`. A step's error, or a
 * request none of the steps answered, goes to `onError` / `notFound`, as on the Express app.
 */
export function plainRoute(trustProxy: (address: string, hop: number) => boolean, steps: Step[], notFound: Step, onError: ErrorStep) {
  return (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const req = Object.assign(incoming, { ip: proxyAddr(incoming, trustProxy), path: pathOf(incoming.url), originalUrl: incoming.url }) as unknown as Request;
    const res = Object.assign(outgoing, { locals: {} }) as unknown as Response;
    let index = 0;
    // An error that cannot be answered (its answer already started) ends the connection instead.
    const answerError = (error: unknown) => {
      try {
        onError(error, req, res, () => {});
      } catch {
        res.destroy();
      }
    };
    const next: NextFunction = (error?: unknown) => {
      if (error !== undefined && error !== "route" && error !== "router") return answerError(error);
      const step = steps[index++] ?? notFound;
      try {
        const result = step(req, res, next);
        if (result instanceof Promise) result.catch(next);
      } catch (thrown) {
        next(thrown);
      }
    };
    next();
  };
}

/** The server's request listener: `/graphql` through its plain route, everything else through Express. */
export function routeRequests(graphql: (req: IncomingMessage, res: ServerResponse) => void, app: RequestHandler | ((req: IncomingMessage, res: ServerResponse) => void)) {
  return (req: IncomingMessage, res: ServerResponse) => (pathOf(req.url) === GRAPHQL_PATH ? graphql(req, res) : (app as (req: IncomingMessage, res: ServerResponse) => void)(req, res));
}

import type { IncomingMessage } from "node:http";
import type { AuthService } from "../auth/auth-service.ts";
import { invalidToken, notAuthenticated } from "../errors.ts";
import type { SessionClaims } from "../auth/tokens.ts";
import type { RequestStep } from "./pipeline.ts";
import { clientOfTenant } from "../admission/client-address.ts";

const BEARER = /^Bearer ([A-Za-z0-9_\-.]+)$/;

/**
 * The tenant `req`'s bearer token speaks for, its signature and claims verified (not its session:
 * no database); undefined without a valid one. Verified once per request, kept in its context.
 */
export function bearerTenant(auth: AuthService, req: IncomingMessage): number | undefined {
  req.context.bearerTenant ??= verifiedTenant(auth, req.headers.authorization) ?? null;
  return req.context.bearerTenant ?? undefined;
}

function verifiedTenant(auth: AuthService, header: string | undefined): number | undefined {
  const match = BEARER.exec(header?.trim() ?? "");
  if (!match) return undefined;
  try {
    return auth.verify(match[1]).tenantId;
  } catch {
    return undefined;
  }
}

/** Who `req` is weighed as where clients take turns (the server's line): its tenant when its bearer token verifies, else its client address. */
export function weighedAs(auth: AuthService, req: IncomingMessage): string {
  const tenant = bearerTenant(auth, req);
  return tenant === undefined ? req.context.client : clientOfTenant(tenant);
}

/**
 * Verifies `Authorization: Bearer …` on every route and keeps the session in the request's
 * context. No header: the request goes on anonymous. A header that is present but not a valid,
 * live token: 401, never a silent anonymous request. With `checkedInTransaction` (GraphQL), only
 * the signature and claims are verified here: each of the request's transactions checks the
 * session as it opens, in the same round trip (app_private.require_live_session).
 */
export function bearerAuthentication(auth: AuthService, { checkedInTransaction = false } = {}): RequestStep {
  return async (req, _res, next) => {
    const header = req.headers.authorization;
    if (header === undefined) return next();
    try {
      const match = BEARER.exec(header.trim());
      if (!match) throw invalidToken();
      req.context.session = checkedInTransaction ? auth.verify(match[1]) : await auth.authorize(match[1]);
      next();
    } catch (error) {
      next(error);
    }
  };
}

/** The verified session of a request that needs one. */
export function requireSession(req: IncomingMessage): SessionClaims {
  const session = req.context.session;
  if (!session) throw notAuthenticated();
  return session;
}

import jwt from "jsonwebtoken";
import { LRUCache } from "lru-cache";
import { createHash, randomBytes } from "node:crypto";
import type { JwtConfig } from "../config/auth.ts";
import { invalidToken } from "../errors.ts";
import { APP_ROLES, type AppRole } from "./roles.ts";

/** Who a verified access token speaks for. */
export interface SessionClaims {
  userId: number;
  tenantId: number;
  role: AppRole;
  sessionId: string;
}

/** Tokens larger than this are refused before any parsing. */
const MAX_TOKEN_LENGTH = 4096;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_INT4 = 2_147_483_647;

export function signAccessToken(config: JwtConfig, claims: SessionClaims): string {
  return jwt.sign({ tenant_id: claims.tenantId, role: claims.role, sid: claims.sessionId }, config.signingKey, {
    algorithm: config.algorithm,
    subject: String(claims.userId),
    issuer: config.issuer,
    audience: config.audience,
    expiresIn: config.accessTtlSeconds,
  });
}

/**
 * Verifies signature (algorithm pinned), expiry (required), not-before, issuer and audience, then
 * the shape of every claim. Throws INVALID_TOKEN for anything else.
 */
export function verifyAccessToken(config: JwtConfig, token: string): SessionClaims {
  const cached = verifiedTokens.get(token);
  if (cached && cached.config === config && cached.expiresAt > Date.now() / 1000) return cached.claims;
  const claims = verifySignedToken(config, token);
  verifiedTokens.set(token, { config, claims, expiresAt: (jwt.decode(token) as jwt.JwtPayload).exp! });
  return claims;
}

/**
 * Tokens whose signature and claims were verified, until they expire: a signature stays valid,
 * so a client's next request skips the crypto. (Whether the session is still live is checked on
 * every request all the same.) The least recently used go first beyond MAX_CACHED_TOKENS (lru-cache).
 */
const MAX_CACHED_TOKENS = 10_000;
const verifiedTokens = new LRUCache<string, { config: JwtConfig; claims: SessionClaims; expiresAt: number }>({ max: MAX_CACHED_TOKENS });

function verifySignedToken(config: JwtConfig, token: string): SessionClaims {
  if (token.length > MAX_TOKEN_LENGTH) throw invalidToken();
  let payload: jwt.JwtPayload | string;
  try {
    payload = jwt.verify(token, config.verifyingKey, {
      algorithms: [config.algorithm],
      issuer: config.issuer,
      audience: config.audience,
    });
  } catch {
    throw invalidToken();
  }
  return claimsOf(payload);
}

function claimsOf(payload: jwt.JwtPayload | string): SessionClaims {
  if (typeof payload !== "object" || typeof payload.exp !== "number") throw invalidToken();
  const userId = Number(payload.sub);
  const { tenant_id: tenantId, role, sid } = payload as Record<string, unknown>;
  const validId = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0 && (n as number) <= MAX_INT4;
  if (typeof payload.sub !== "string" || !/^[1-9][0-9]*$/.test(payload.sub) || !validId(userId)) throw invalidToken();
  if (!validId(tenantId) || !APP_ROLES.includes(role as AppRole)) throw invalidToken();
  if (typeof sid !== "string" || !UUID.test(sid)) throw invalidToken();
  return { userId, tenantId, role: role as AppRole, sessionId: sid };
}

/** A new opaque token (256 random bits: refresh tokens, e-mailed tokens) and the hash the database keeps. */
export function newOpaqueToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString("base64url");
  return { token, hash: hashOpaqueToken(token) };
}

export function hashOpaqueToken(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

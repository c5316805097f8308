import { LRUCache } from "lru-cache";

/** How session liveness is trusted and bounded (SESSION_LIVENESS_* settings, ACCESS_TOKEN_TTL). */
export interface SessionLivenessSettings {
  /** SESSION_LIVENESS_WINDOW_MS: how recent the proof of hearing must be; 0 checks every request in SQL. */
  windowMs: number;
  /** Sessions remembered as live at once (least recently used forgotten first: they are checked in SQL again). */
  maxSessions: number;
  /** ACCESS_TOKEN_TTL in ms: how long a revocation is remembered (every token of a session revoked earlier has expired). */
  accessTtlMs: number;
}

/**
 * Session liveness in memory (issue 29). The per-request check (app_private.require_live_session(),
 * in every transaction's opening) proves a session may act; a session that passed it is trusted
 * without it while this process provably hears every revocation:
 *
 * - every credential event revokes sessions (app_private.revoke_dependent_credentials), and each
 *   revocation is announced on stoflow_session_ended, which the process's LISTEN connection hears
 *   (src/live/notifications.ts), dropping that session here at once;
 * - the LISTEN connection pings itself with a notification of its own; notifications arrive in
 *   commit order, so a ping sent at T and heard proves that every revocation committed before T
 *   was heard (behind a transaction-mode pooler, the ping is lost like the rest, and nothing is
 *   proven). A session is trusted only while the last ping heard was sent less than `windowMs`
 *   ago: a connection gone silent makes every request checked in SQL again within that window;
 * - losing the connection forgets every session (a revocation may have been missed), and a check
 *   that started before the loss (or before the connection proved itself) records nothing;
 * - a write committed through this process (a logout, a password change, an admin deactivating a
 *   member…) fences its tenant (or every tenant, for the auth flows that have none, like a reset
 *   by e-mailed link): its sessions are checked in SQL until a ping sent after that commit is
 *   answered, so a revocation made here applies here to the very next request.
 *
 * Built on lru-cache's LRUCache (bounded, with TTL); the rest is the proof above.
 */
export class SessionLiveness {
  /** Bumped when the LISTEN connection is lost: what was verified before counts no more. */
  #epoch = 0;
  /** performance.now() when the last ping heard was sent, in this epoch. */
  #heardUntil = Number.NEGATIVE_INFINITY;
  /** Each session verified in SQL: in which epoch, with which claims (user, tenant, role and the rest of the settings). */
  readonly #verified: LRUCache<string, { epoch: number; claims: string }>;
  readonly #ended: LRUCache<string, true>;
  /** performance.now() of the last fencing commit of each tenant, and of every tenant. */
  readonly #fences: LRUCache<string, number>;
  #fencedAll = Number.NEGATIVE_INFINITY;
  readonly #windowMs: number;

  constructor({ windowMs, maxSessions, accessTtlMs }: SessionLivenessSettings) {
    this.#windowMs = windowMs;
    this.#verified = new LRUCache({ max: maxSessions });
    this.#ended = new LRUCache({ max: maxSessions, ttl: accessTtlMs, ttlAutopurge: false });
    this.#fences = new LRUCache({ max: maxSessions, ttl: Math.max(windowMs, 1) });
  }

  /**
   * Whether `sessionId` may act without the SQL check now, with the same `claims` (the transaction's
   * settings, which name its user, tenant and role) as when it was checked.
   */
  knownLive(sessionId: string, claims: string, tenantId: string | undefined): boolean {
    const verified = this.#verified.get(sessionId);
    return (
      this.#hearing() &&
      verified?.epoch === this.#epoch &&
      verified.claims === claims &&
      !this.#ended.has(sessionId) &&
      this.#heardUntil > Math.max(this.#fencedAll, (tenantId ? this.#fences.get(tenantId) : undefined) ?? Number.NEGATIVE_INFINITY)
    );
  }

  /** A write of `tenantId` (undefined: of a tenant not known here) committed through this process: it may have revoked sessions. */
  fence(tenantId: string | undefined): void {
    if (tenantId) this.#fences.set(tenantId, performance.now());
    else this.#fencedAll = performance.now();
  }

  /** Before a SQL check: what checkPassed needs to record it (undefined: it will not be recorded). */
  checkStarting(): number | undefined {
    return this.#hearing() ? this.#epoch : undefined;
  }

  /** The SQL check of `sessionId` with `claims`, started at `startedIn` (checkStarting), passed. */
  checkPassed(sessionId: string, claims: string, startedIn: number | undefined): void {
    if (startedIn === this.#epoch && !this.#ended.has(sessionId)) this.#verified.set(sessionId, { epoch: startedIn, claims });
  }

  /** A revocation heard on stoflow_session_ended. */
  ended(sessionId: string): void {
    this.#ended.set(sessionId, true);
    this.#verified.delete(sessionId);
  }

  /** A ping sent at `sentAt` (performance.now()) was heard on the LISTEN connection. */
  heard(sentAt: number): void {
    this.#heardUntil = Math.max(this.#heardUntil, sentAt);
  }

  /** The LISTEN connection was lost: every session is checked in SQL again until it is back and proven. */
  lost(): void {
    this.#epoch += 1;
    this.#heardUntil = Number.NEGATIVE_INFINITY;
    this.#verified.clear();
  }

  #hearing(): boolean {
    return this.#windowMs > 0 && performance.now() - this.#heardUntil < this.#windowMs;
  }
}

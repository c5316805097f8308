import type pg from "pg";
import type { MailConfig } from "../config/mail.ts";
import { codeOfPgError } from "../db/error-codes.ts";
import { claimSettings } from "./claim-settings.ts";
import { ClientError, forbidden, invalidInput, tooManyAttempts } from "../errors.ts";
import { InvitationIdInput, InvitationInput, parseInput } from "./inputs.ts";
import { PG_ROLE_OF } from "./roles.ts";
import type { SessionClaims } from "./tokens.ts";
import { inTransaction, type SqlHelpers } from "./transactions.ts";

/** A pending invitation, as the REST list shows it. */
export interface PendingInvitation {
  id: number;
  email: string;
  full_name: string | null;
  role: string;
  invited_by: number | null;
  created_at: string;
  expires_at: string;
}

/**
 * Invitations by admins (app_private.invite, resend_invitation, revoke_invitation), run with the
 * admin's own role and claims: SQL grants them to admins only and keeps each in its tenant. The
 * answer to an invitation is the same whether or not its address has an account anywhere (the
 * worker then sends nothing); made and resent invitations count against the throttles per
 * inviter and per tenant (INVITATIONS_PER_INVITER_PER_HOUR, INVITATIONS_PER_TENANT_PER_HOUR).
 */
export function invitationFlows(pool: pg.Pool, mail: MailConfig) {
  const asAdmin = <T>(session: SessionClaims, work: (query: SqlHelpers) => Promise<T>) =>
    inTransaction(pool, { role: PG_ROLE_OF[session.role], ...claimSettings(session) }, work).catch(invitationError);
  const ttl = `${mail.tokenTtlSeconds.invitation} seconds`;
  const limits = [mail.invitationsPerInviterPerHour, mail.invitationsPerTenantPerHour, HOUR];
  const idOf = (input: Record<string, unknown>) => parseInput(InvitationIdInput, input).id;
  const throttled = (wait: number) => {
    if (wait > 0) throw tooManyAttempts(wait, "invitations");
  };

  return {
    async invite(session: SessionClaims, input: Record<string, unknown>): Promise<{ id: number }> {
      const { email, role, full_name: fullName } = parseInput(InvitationInput, input);
      const made = (await asAdmin(session, (query) =>
        query.row<{ retry_after: number; invitation_id: number }>("select * from app_private.invite($1, $2, $3, $4, $5, $6, $7)", [
          email,
          fullName ?? null,
          role ?? "user",
          ttl,
          ...limits,
        ]),
      ))!;
      throttled(made.retry_after);
      return { id: made.invitation_id };
    },

    async resend(session: SessionClaims, input: Record<string, unknown>): Promise<{ id: number }> {
      const id = idOf(input);
      throttled(
        await asAdmin(session, (query) =>
          query.value<number>("select app_private.resend_invitation($1, $2, $3, $4, $5)", [id, ttl, ...limits]),
        ),
      );
      return { id };
    },

    async revoke(session: SessionClaims, input: Record<string, unknown>): Promise<void> {
      const id = idOf(input);
      await asAdmin(session, (query) => query.run("select app_private.revoke_invitation($1)", [id]));
    },

    /** The tenant's pending invitations (admins only), oldest first. */
    list(session: SessionClaims): Promise<PendingInvitation[]> {
      return asAdmin(session, (query) => query.value<PendingInvitation[]>("select app_private.pending_invitations()"));
    },
  };
}

const HOUR = 3600;

function invitationError(error: unknown): never {
  if (error instanceof ClientError) throw error;
  const code = codeOfPgError(error);
  if (code === "FORBIDDEN") throw forbidden("Only a tenant admin manages invitations");
  if (code === "NOT_FOUND") throw new ClientError("NOT_FOUND", 404, "No such invitation in this tenant");
  if (code === "INVALID_INPUT") throw invalidInput((error as Error).message);
  throw error;
}

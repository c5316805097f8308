import type pg from "pg";
import type { MailConfig } from "../config/mail.ts";
import type { accountMailFlows } from "./account-mail.ts";
import { tokenRefused } from "../errors.ts";
import { AcceptInvitationInput, parseInput } from "./inputs.ts";
import { invitationFlows } from "./invitations.ts";
import type { PasswordHasher } from "./passwords.ts";
import type { AuthResponse, SessionIssuer } from "./session-tokens.ts";
import { asAuthRole } from "./transactions.ts";

/**
 * A tenant's team: an admin's invitations (made, listed, resent, revoked), and the invitee who
 * accepts one through its link, chooses a password and is signed in. (`stoflow users:add`, an
 * operator's way in, is src/operator/team-members.ts.)
 */
export function teamFlows(
  pool: pg.Pool,
  mail: MailConfig,
  passwords: PasswordHasher,
  mailFlows: ReturnType<typeof accountMailFlows>,
  issuer: SessionIssuer,
) {
  return {
    invitations: invitationFlows(pool, mail),

    /** The invitee chooses their password through the invitation's link, and is signed in. */
    async acceptInvitation(input: Record<string, unknown>, clientIp: string): Promise<AuthResponse> {
      const { password } = parseInput(AcceptInvitationInput, input);
      return passwords.inLine(async (bcrypt) => {
        const token = await mailFlows.checkedToken(input, "invitation", clientIp);
        const hash = await bcrypt.hash(password);
        return asAuthRole(pool, async (query) => {
          const accepted = (await query.row<{ outcome: string; user_id: number; credential_version: number }>(
            "select * from app_private.accept_invitation($1, $2)",
            [token, hash],
          ))!;
          if (accepted.outcome !== "ok") throw tokenRefused(accepted.outcome);
          return issuer.open(query, accepted.user_id, accepted.credential_version);
        });
      });
    },
  };
}

import type pg from "pg";
import type { ThrottleConfig } from "../config/auth.ts";
import type { MailConfig } from "../config/mail.ts";
import { codeOfPgError } from "../db/error-codes.ts";
import { throttled, type accountMailFlows } from "./account-mail.ts";
import { claimSettings } from "./claim-settings.ts";
import { checkCurrentPassword } from "./current-password.ts";
import { conflict, emailTaken, invalidInput, tokenRefused } from "../errors.ts";
import { EmailChangeInput, parseInput } from "./inputs.ts";
import type { PasswordHasher } from "./passwords.ts";
import { AUTH_PG_ROLE } from "./roles.ts";
import type { SessionClaims } from "./tokens.ts";
import { inTransaction, type SqlHelpers } from "./transactions.ts";

/** What confirming one side of a change of address did. */
export interface EmailChangeConfirmation {
  /** True when this confirmation was the second one: the address changed, and every session ended. */
  changed: boolean;
  detail: string;
}

/**
 * Change of sign-in address (Supabase's "secure e-mail change"): asked with the current password,
 * it takes effect once both the new and the old address confirmed; the old address may refuse it
 * instead ("this was not me"), which ends every session. The request does the same work whether
 * or not an account has the new address (the worker then sends nothing there).
 */
export function emailChangeFlows(
  pool: pg.Pool,
  mail: MailConfig,
  throttle: ThrottleConfig,
  passwords: PasswordHasher,
  links: ReturnType<typeof accountMailFlows>,
) {
  const asAuth = <T>(settings: Record<string, string>, work: (query: SqlHelpers) => Promise<T>) =>
    inTransaction(pool, { role: AUTH_PG_ROLE, ...settings }, work);

  return {
    request: async (session: SessionClaims, input: Record<string, unknown>, clientIp: string): Promise<void> => {
      const { new_email: email, current_password: password } = parseInput(EmailChangeInput, input);
      await passwords.inLine(async (bcrypt) => {
        const checkedVersion = await checkCurrentPassword(pool, throttle, session, password, bcrypt);
        const asked = (await asAuth(claimSettings(session), (query) =>
          query
            .row<{ retry_after: number; accepted: boolean | null }>(
              "select * from app_private.request_email_change($1, $2, $3, $4, $5, $6, $7, $8)",
              [
                email,
                session.sessionId,
                checkedVersion,
                `${mail.tokenTtlSeconds.change_email} seconds`,
                clientIp,
                mail.requestsPerEmail,
                mail.requestsPerAddress,
                mail.requestWindowSeconds,
              ],
            )
            .catch(sameAddress),
        ))!;
        throttled(asked.retry_after);
        if (!asked.accepted) throw conflict("The password or this session changed meanwhile; sign in again");
      }, `user ${session.userId}`);
    },

    confirm: async (input: Record<string, unknown>, clientIp: string): Promise<EmailChangeConfirmation> => {
      const hash = await links.checkedToken(input, "change_email", clientIp);
      const done = (await asAuth({}, (query) =>
        query.row<{ outcome: string; changed: boolean }>("select * from app_private.confirm_email_change($1)", [hash]),
      ).catch(takenMeanwhile))!;
      if (done.outcome !== "ok") throw tokenRefused(done.outcome);
      return done.changed
        ? { changed: true, detail: "The address changed: sign in again with it" }
        : { changed: false, detail: "Confirmed: the change takes effect once the other address confirms it too" };
    },

    /** "This was not me", from the message to the old address: the change is cancelled and every session ends. */
    cancel: async (input: Record<string, unknown>, clientIp: string): Promise<void> => {
      const hash = await links.checkedToken(input, "change_email", clientIp);
      await links.useToken("select app_private.cancel_email_change($1)", [hash]);
    },
  };
}

function sameAddress(error: unknown): never {
  throw codeOfPgError(error) === "INVALID_INPUT" ? invalidInput((error as Error).message) : error;
}

function takenMeanwhile(error: unknown): never {
  throw codeOfPgError(error) === "DUPLICATE" ? emailTaken() : error;
}

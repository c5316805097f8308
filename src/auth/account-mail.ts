import type pg from "pg";
import type { MailConfig } from "../config/mail.ts";
import { tokenRefused, tooManyAttempts } from "../errors.ts";
import { EmailTokenInput, MailRequestInput, parseInput, ResetPasswordInput } from "./inputs.ts";
import type { PasswordHasher } from "./passwords.ts";
import { hashOpaqueToken } from "./tokens.ts";
import { asAuthRole, type SqlHelpers } from "./transactions.ts";

/** What a mail request answers, whether or not the address has an account. */
export const MAIL_REQUEST_ANSWER = { detail: "If an account fits this address, a message is on its way" } as const;

/** TOO_MANY_ATTEMPTS when the SQL function of a mail request says to wait. */
export function throttled(wait: number): void {
  if (wait > 0) throw tooManyAttempts(wait, "messages asked for");
}

/**
 * The flows of e-mailed links: every use of a token first reserves an attempt of the client
 * address and checks the token (app_private.check_user_token), before any bcrypt; the flow's own
 * SQL function then uses it once, under a row lock.
 */
export function accountMailFlows(pool: pg.Pool, mail: MailConfig, passwords: PasswordHasher) {
  const asAuth = <T>(work: (sql: SqlHelpers) => Promise<T>) => asAuthRole(pool, work);

  /** The hash of a token that can do `purpose` now; else TOKEN_* or TOO_MANY_ATTEMPTS. */
  async function checkedToken(input: Record<string, unknown>, purpose: string, clientIp: string): Promise<Buffer> {
    const hash = hashOpaqueToken(parseInput(EmailTokenInput, input).token);
    const check = (await asAuth((query) =>
      query.row<{ retry_after: number; outcome: string | null }>("select * from app_private.check_user_token($1, $2, $3, $4, $5)", [
        hash,
        purpose,
        clientIp,
        mail.tokenAttemptsPerAddress,
        mail.requestWindowSeconds,
      ]),
    ))!;
    if (check.retry_after > 0) throw tooManyAttempts(check.retry_after, "links tried");
    if (check.outcome !== "ok") throw tokenRefused(check.outcome ?? "invalid");
    return hash;
  }

  /** Runs a flow's SQL function that uses the token: its outcome is ok, or the token is refused. */
  async function useToken(sql: string, params: unknown[]): Promise<void> {
    const outcome = await asAuth((query) => query.value<string>(sql, params));
    if (outcome !== "ok") throw tokenRefused(outcome);
  }

  return {
    checkedToken,
    useToken,

    /** Queues a message of `purpose` for the address when an account fits; the same answer either way. */
    async requestMail(input: Record<string, unknown>, purpose: "verify_email" | "reset_password", clientIp: string): Promise<void> {
      const { email } = parseInput(MailRequestInput, input);
      throttled(
        await asAuth((query) =>
          query.value<number>("select app_private.request_account_email($1, $2, $3, $4, $5, $6)", [
            email,
            purpose,
            clientIp,
            mail.requestsPerEmail,
            mail.requestsPerAddress,
            mail.requestWindowSeconds,
          ]),
        ),
      );
    },

    verifyEmail: async (input: Record<string, unknown>, clientIp: string): Promise<void> => {
      const hash = await checkedToken(input, "verify_email", clientIp);
      await useToken("select app_private.verify_email($1)", [hash]);
    },

    /** Sets a new password with the token of a reset message; every session of the user ends. */
    resetPassword: async (input: Record<string, unknown>, clientIp: string): Promise<void> => {
      const { new_password: password } = parseInput(ResetPasswordInput, input);
      await passwords.inLine(async (bcrypt) => {
        const token = await checkedToken(input, "reset_password", clientIp);
        await useToken("select app_private.reset_password($1, $2)", [token, await bcrypt.hash(password)]);
      });
    },
  };
}

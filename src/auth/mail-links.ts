import type pg from "pg";
import type { ThrottleConfig } from "../config/auth.ts";
import type { MailConfig } from "../config/mail.ts";
import { accountMailFlows } from "./account-mail.ts";
import { emailChangeFlows } from "./email-change.ts";
import type { PasswordHasher } from "./passwords.ts";

/**
 * The flows of e-mailed links: verification of the address (and its resending), reset of a
 * forgotten password, change of address (asked, confirmed, cancelled). The token checks of
 * account-mail.ts serve the team's invitations too (`checkedToken`).
 */
export function mailLinkFlows(pool: pg.Pool, mail: MailConfig, throttle: ThrottleConfig, passwords: PasswordHasher) {
  const links = accountMailFlows(pool, mail, passwords);
  const emailChange = emailChangeFlows(pool, mail, throttle, passwords, links);
  return {
    links,
    flows: {
      verifyEmail: links.verifyEmail,
      resendVerification: (input: Record<string, unknown>, clientIp: string) => links.requestMail(input, "verify_email", clientIp),
      forgotPassword: (input: Record<string, unknown>, clientIp: string) => links.requestMail(input, "reset_password", clientIp),
      resetPassword: links.resetPassword,
      requestEmailChange: emailChange.request,
      confirmEmailChange: emailChange.confirm,
      cancelEmailChange: emailChange.cancel,
    },
  };
}

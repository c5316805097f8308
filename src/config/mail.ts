import path from "node:path";
import { dataFolder, isProduction } from "./env.ts";
import { flag, integer, optional, text } from "./fields.ts";

/** How account messages (verification, reset, invitation, change of address) are sent. */
export interface MailConfig {
  /** SMTP server (smtp://user:pass@host:587, smtps://…); unset: each message is an .eml file in `folder` (development only). */
  smtpUrl: string | undefined;
  /**
   * Milliseconds to connect to the SMTP server, to get its greeting, and of silence once talking:
   * a relay that stalls holds a job worker this long per message, not nodemailer's 2 min / 30 s / 10 min.
   */
  smtpTimeoutsMs: { connection: number; greeting: number; socket: number };
  /** The From: of every message. */
  from: string;
  /** Where the application's pages live: the links of the messages point there. */
  appUrl: string;
  /**
   * No APP_URL (development): the links point at this server's own address, and the server
   * answers their paths with minimal pages of its own (src/http/link-pages.ts).
   */
  ownLinkPages: boolean;
  /** Development mail folder (STOFLOW_DATA_DIR/mail). */
  folder: string;
  /** How long an e-mailed token stays usable, in seconds, per purpose. */
  tokenTtlSeconds: { verify_email: number; reset_password: number; invitation: number; change_email: number };
  /** Messages one e-mail address may be sent on request (resend, forgot password), and one client may ask for, per window. */
  requestsPerEmail: number;
  requestsPerAddress: number;
  requestWindowSeconds: number;
  /** Token uses (right or wrong) one client address may try per window: guessing is hopeless, trying costs bcrypt. */
  tokenAttemptsPerAddress: number;
  /** Invitations (made or resent) one admin, and one tenant, may send per hour. */
  invitationsPerInviterPerHour: number;
  invitationsPerTenantPerHour: number;
  /** Refuse sign-in (403 EMAIL_NOT_VERIFIED) until the address is verified; by default an unverified account signs in. */
  loginRequiresVerifiedEmail: boolean;
}

const DAY = 86_400;

/** This server's own address, as the links of development messages name it (startGateway knows the real port when PORT=0). */
export const ownAddress = (port: number) => `http://localhost:${port}`;

export function readMailConfig(env: NodeJS.ProcessEnv, port: number): MailConfig {
  const smtpUrl = optional(env, "SMTP_URL");
  const appUrl = optional(env, "APP_URL");
  if (!smtpUrl && isProduction(env)) throw new Error("SMTP_URL must be set in production (account messages are sent by SMTP)");
  if (!appUrl && isProduction(env))
    throw new Error("APP_URL must be set in production (the links of account messages open the application's pages there)");
  return {
    smtpUrl,
    smtpTimeoutsMs: {
      connection: integer(env, "SMTP_CONNECTION_TIMEOUT", 10, 1, 600) * 1000,
      greeting: integer(env, "SMTP_GREETING_TIMEOUT", 10, 1, 600) * 1000,
      socket: integer(env, "SMTP_SOCKET_TIMEOUT", 30, 1, 3_600) * 1000,
    },
    from: text(env, "MAIL_FROM", "Stoflow <no-reply@stoflow.localhost>"),
    appUrl: (appUrl ?? ownAddress(port)).replace(/\/+$/, ""),
    ownLinkPages: appUrl === undefined,
    folder: path.resolve(dataFolder(env), "mail"),
    tokenTtlSeconds: {
      verify_email: integer(env, "VERIFY_EMAIL_TOKEN_TTL", 7 * DAY, 60, 90 * DAY),
      reset_password: integer(env, "RESET_PASSWORD_TOKEN_TTL", 3600, 60, 7 * DAY),
      // How long a pending invitation (and so its link) lives.
      invitation: integer(env, "INVITATION_TTL", 7 * DAY, 60, 90 * DAY),
      change_email: integer(env, "CHANGE_EMAIL_TOKEN_TTL", DAY, 60, 90 * DAY),
    },
    requestsPerEmail: integer(env, "MAIL_REQUESTS_PER_EMAIL", 3, 1, 1_000_000),
    requestsPerAddress: integer(env, "MAIL_REQUESTS_PER_ADDRESS", 20, 1, 1_000_000),
    requestWindowSeconds: integer(env, "MAIL_REQUEST_WINDOW", 3600, 1, DAY),
    tokenAttemptsPerAddress: integer(env, "TOKEN_ATTEMPTS_PER_ADDRESS", 20, 1, 1_000_000),
    invitationsPerInviterPerHour: integer(env, "INVITATIONS_PER_INVITER_PER_HOUR", 10, 1, 1_000_000),
    invitationsPerTenantPerHour: integer(env, "INVITATIONS_PER_TENANT_PER_HOUR", 20, 1, 1_000_000),
    loginRequiresVerifiedEmail: flag(env, "LOGIN_REQUIRES_VERIFIED_EMAIL", false),
  };
}

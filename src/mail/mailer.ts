import fs from "node:fs/promises";
import path from "node:path";
import nodemailer from "nodemailer";
import type { Logger } from "pino";
import type { MailConfig } from "../config/mail.ts";

/** One message, in plain text and HTML; `link` is the one action it asks for (logged in development). */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
  link?: string | undefined;
}

export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/**
 * SMTP with SMTP_URL; without it (development only: production refuses to start), each message
 * is written to the mail folder as an .eml file that any mail client opens, and its link is logged.
 */
export function createMailer(config: MailConfig, logger: Logger): Mailer {
  if (config.smtpUrl) {
    const { connection, greeting, socket } = config.smtpTimeoutsMs;
    const transport = nodemailer.createTransport({
      url: config.smtpUrl,
      connectionTimeout: connection,
      greetingTimeout: greeting,
      socketTimeout: socket,
    });
    return {
      send: async ({ link: _link, ...message }) => void (await transport.sendMail({ from: config.from, ...message })),
      close: () => transport.close(),
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  return {
    async send({ link, ...message }) {
      const { message: eml } = await transport.sendMail({ from: config.from, ...message });
      await fs.mkdir(config.folder, { recursive: true });
      const file = path.join(config.folder, `${new Date().toISOString().replace(/[:.]/g, "-")}-${process.hrtime.bigint()}.eml`);
      await fs.writeFile(file, eml as Buffer);
      logger.info({ to: message.to, subject: message.subject, file, link }, "development mail written");
    },
    close: () => transport.close(),
  };
}

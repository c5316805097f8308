import { z } from "zod";
import { invalidInput } from "../errors.ts";
import { APP_ROLES, APP_ROLES_IN_WORDS } from "./roles.ts";

/**
 * The bodies the auth flows accept, shared by the REST routes and the GraphQL mutations. The
 * OpenAPI document is generated from these same schemas (src/http/openapi.ts), so what /docs says
 * is what is checked. Each rule says what is wrong in its message; the first broken rule is the
 * INVALID_INPUT answer.
 */

const MIN_PASSWORD_CHARACTERS = 8;
/** bcrypt ignores every byte after the 72nd, so a longer password would not be what is checked. */
const MAX_PASSWORD_BYTES = 72;
/**
 * A bare e-mail address, local@domain (the WHATWG pattern of <input type=email>, the domain with a
 * dot): no display name, comment or route, so the address stored is the one mail goes to. The
 * pattern of app_private.is_email_address (test/sql/email.test.ts compares them).
 */
export const EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
// eslint-disable-next-line no-control-regex -- NUL is the very character refused (a pattern, so the OpenAPI document states it)
const NO_NUL = /^[^\u0000]*$/;

/** A string that is there: not empty nor only spaces, at most `max` characters, no NUL (PostgreSQL text cannot hold it, bcrypt stops at it). */
const text = (field: string, max: number) =>
  z
    .string({ error: `${field} is required` })
    .regex(/\S/, `${field} is required`)
    .max(max, `${field} must be at most ${max} characters`)
    .regex(NO_NUL, `${field} must not contain NUL characters`);

const email = z
  .string({ error: "email is required" })
  .trim()
  .min(1, "email is required")
  .max(255, "email must be at most 255 characters")
  .regex(NO_NUL, "email must not contain NUL characters")
  .regex(EMAIL, "email is not a valid e-mail address")
  .meta({ format: "email", example: "lou@example.com" });

/**
 * A password as bcrypt can check it: at most 72 bytes (UTF-8), no NUL. Refused before any hash is
 * computed, for sign-in too: no stored password is longer, and bcrypt would compare only the first 72 bytes.
 */
const password = (field: string) =>
  z
    .string({ error: `${field} is required` })
    .min(1, `${field} is required`)
    .refine((value) => Buffer.byteLength(value, "utf8") <= MAX_PASSWORD_BYTES, `${field} must be at most ${MAX_PASSWORD_BYTES} bytes`)
    .regex(NO_NUL, `${field} must not contain NUL characters`)
    .meta({ example: "a long password" });

/** A new password: 8 characters at least, 72 bytes at most (UTF-8). */
const newPassword = (field: string) =>
  password(field)
    .refine((value) => [...value].length >= MIN_PASSWORD_CHARACTERS, `${field} must be at least ${MIN_PASSWORD_CHARACTERS} characters`)
    .meta({
      minLength: MIN_PASSWORD_CHARACTERS,
      description: `${MIN_PASSWORD_CHARACTERS} characters at least, ${MAX_PASSWORD_BYTES} bytes (UTF-8) at most`,
    });

export const RegisterInput = z
  .object({
    name: text("name", 255).meta({ description: "The shop's name (the tenant), also its admin's full name", example: "Vintage Lou" }),
    email,
    password: newPassword("password"),
    subscription_tier: text("subscription_tier", 50)
      .nullish()
      .meta({ description: "A tier's name (`starter` when absent)", example: "standard" }),
  })
  .meta({ id: "RegisterInput" });

export const LoginInput = z
  .object({
    email: text("email", 255).meta({ example: "lou@example.com" }),
    password: password("password"),
  })
  .meta({ id: "LoginInput" });

export const RefreshInput = z
  .object({
    refresh_token: text("refresh_token", 200).meta({ description: "The refresh token of the last pair (single use)" }),
  })
  .meta({ id: "RefreshInput" });

export const ChangePasswordInput = z
  .object({
    current_password: password("current_password"),
    new_password: newPassword("new_password"),
  })
  .meta({ id: "ChangePasswordInput" });

export const ConfirmPasswordInput = z
  .object({
    password: password("password").meta({ description: "The password in use now" }),
  })
  .meta({ id: "ConfirmPasswordInput" });

const role = z.enum(APP_ROLES, { error: `role must be ${APP_ROLES_IN_WORDS}` });

export const EmailTokenInput = z
  .object({
    token: text("token", 200).meta({ description: "The token of the link the message carried (its `token` parameter)" }),
  })
  .meta({ id: "EmailTokenInput" });

export const ResetPasswordInput = EmailTokenInput.extend({ new_password: newPassword("new_password") }).meta({ id: "ResetPasswordInput" });

export const AcceptInvitationInput = EmailTokenInput.extend({ password: newPassword("password") }).meta({ id: "AcceptInvitationInput" });

export const EmailChangeInput = z
  .object({
    new_email: email,
    current_password: password("current_password").meta({ description: "The password in use now: a change of address asks for it again" }),
  })
  .meta({ id: "EmailChangeInput" });

export const MailRequestInput = z.object({ email }).meta({ id: "MailRequestInput" });

export const InvitationInput = z
  .object({
    email,
    role: role.nullish(),
    full_name: text("full_name", 255).nullish(),
  })
  .meta({ id: "InvitationInput" });

/**
 * A row's id (an integer column, 1 to 2^31 − 1): a number, or its decimal digits as a path or a
 * command line gives them. Not any text JavaScript reads as a number (`1e3`, `0x10`, ` 1`, `1.0`,
 * `01`), so one row has one spelling.
 */
const rowId = (message: string) =>
  z.preprocess(
    (value) => (typeof value === "string" && /^[1-9][0-9]{0,9}$/.test(value) ? Number(value) : value),
    z.number({ error: message }).int(message).min(1, message).max(2_147_483_647, message),
  );

/** A user an operator adds to a tenant (`npm run stoflow -- users:add`); without a password, the address is mailed a reset link. */
export const MemberInput = InvitationInput.extend({
  tenant_id: rowId("tenant must be a tenant's id"),
  role,
  password: newPassword("password").nullish(),
});

/** The id of an invitation, as a path parameter (`/api/auth/invitations/{id}`) or a GraphQL rowId. */
export const InvitationIdInput = z.object({
  id: rowId("id must be an invitation's id"),
});

/** The body as `schema` reads it, or INVALID_INPUT with the message of the first broken rule. */
export function parseInput<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body);
  if (!result.success) throw invalidInput(result.error.issues[0].message);
  return result.data;
}

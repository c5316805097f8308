import type pg from "pg";
import type { ThrottleConfig } from "../config/auth.ts";
import { codeOfPgError } from "../db/error-codes.ts";
import { emailTaken, invalidInput, tooManyAttempts } from "../errors.ts";
import { parseInput, RegisterInput } from "./inputs.ts";
import type { PasswordHasher } from "./passwords.ts";
import type { AuthResponse, PasswordCheck, SessionIssuer } from "./session-tokens.ts";
import { asAuthRole, type SqlHelpers } from "./transactions.ts";

const HOUR = 3600;

/**
 * Sign-up: a tenant, its schema and its admin, signed in at once. Bcrypt's line first, then the
 * registration throttles reserved in PostgreSQL (per address and per e-mail), then the hash.
 */
export function registrationFlows(
  pool: pg.Pool,
  passwords: PasswordHasher,
  throttle: ThrottleConfig,
  issuer: SessionIssuer,
  billingSettings: Record<string, string>,
) {
  const asAuth = <T>(work: (sql: SqlHelpers) => Promise<T>) => asAuthRole(pool, work);
  return {
    async register(input: Record<string, unknown>, clientIp: string): Promise<AuthResponse> {
      const registration = parseInput(RegisterInput, input);
      const { email, password } = registration;
      return passwords.inLine(async (bcrypt) => {
        const wait = await asAuth((query) =>
          query.value<number>("select app_private.begin_registration($1, $2, $3, $4, $5)", [
            email,
            clientIp,
            throttle.registrationsPerAddressPerHour,
            throttle.registrationsPerEmailPerHour,
            HOUR,
          ]),
        );
        if (wait > 0) throw tooManyAttempts(wait, "registrations");
        const hash = await bcrypt.hash(password);
        return asAuthRole(
          pool,
          async (query) => {
            const { user_id: userId } = await insertTenant(query, registration, hash);
            const { credential_version } = (await query.row<PasswordCheck>("select * from app_private.login_candidate($1)", [email]))!;
            return issuer.open(query, userId, credential_version);
          },
          billingSettings,
        );
      }, clientIp);
    },
  };
}

/**
 * app_private.register_tenant (a paid tier on trial, per the transaction's billing settings): the tenant, its schema, its admin (refusals as INVALID_INPUT or
 * EMAIL_TAKEN), and the admin's verification message queued in the same transaction. Also an
 * operator's `stoflow tenants:create` (src/operator/tenants.ts).
 */
export async function insertTenant(
  query: SqlHelpers,
  { name, email, subscription_tier }: { name: string; email: string; subscription_tier?: string | null | undefined },
  hash: string,
): Promise<{ tenant_id: number; user_id: number }> {
  const ids = await query
    .row<{ tenant_id: number; user_id: number }>(
      "select (c).tenant_id, (c).sub as user_id from app_private.register_tenant($1, $2, $3, $4) c",
      [name, email, hash, subscription_tier ?? null],
    )
    .then((row) => row!, registrationError);
  await query.run("select app_private.queue_account_email('verify_email', $1)", [email]);
  return ids;
}

/** The e-mail is the only unique value a registration brings. */
function registrationError(error: Error): never {
  const code = codeOfPgError(error);
  if (code === "DUPLICATE") throw emailTaken();
  if (code === "INVALID_INPUT") throw invalidInput(error.message);
  throw error;
}

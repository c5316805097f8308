import type pg from "pg";
import type { ThrottleConfig } from "../config/auth.ts";
import { claimSettings } from "./claim-settings.ts";
import { ClientError, tooManyAttempts } from "../errors.ts";
import type { Bcrypt } from "./passwords.ts";
import { AUTH_PG_ROLE } from "./roles.ts";
import type { SessionClaims } from "./tokens.ts";
import { inTransaction } from "./transactions.ts";

/**
 * The first steps of a sensitive change (a new password, a new address): reserve an attempt of
 * the user (CHANGE_PASSWORD_MAX_FAILURES per LOGIN_THROTTLE_WINDOW, so a stolen access token is no
 * password oracle), then check the current password with bcrypt. Returns the credential version
 * it was checked under, which the change itself must still find (else it lost a race).
 */
export async function checkCurrentPassword(
  pool: pg.Pool,
  throttle: ThrottleConfig,
  session: SessionClaims,
  password: string,
  bcrypt: Bcrypt,
): Promise<number> {
  const check = (await inTransaction(pool, { role: AUTH_PG_ROLE, ...claimSettings(session) }, (query) =>
    query.row<{ retry_after: number; password_hash: string | null; credential_version: number }>(
      "select * from app_private.begin_password_change($1, $2, $3)",
      [session.userId, throttle.passwordChangeFailuresPerUser, throttle.loginWindowSeconds],
    ),
  ))!;
  if (check.retry_after > 0) throw tooManyAttempts(check.retry_after, "wrong passwords");
  if (!(await bcrypt.matches(password, check.password_hash))) {
    throw new ClientError("INVALID_CREDENTIALS", 403, "Current password is incorrect");
  }
  return check.credential_version;
}

import type pg from "pg";
import type { ThrottleConfig } from "../config/auth.ts";
import { checkCurrentPassword } from "./current-password.ts";
import { conflict } from "../errors.ts";
import { ChangePasswordInput, ConfirmPasswordInput, parseInput } from "./inputs.ts";
import type { PasswordHasher } from "./passwords.ts";
import type { SessionClaims } from "./tokens.ts";
import { asAuthRole, type SqlHelpers } from "./transactions.ts";

/** A signed-in user's password: changed, or confirmed again for sudo mode. Both check the current one, throttled per user. */
export function passwordChangeFlows(pool: pg.Pool, passwords: PasswordHasher, throttle: ThrottleConfig) {
  const asAuth = <T>(work: (sql: SqlHelpers) => Promise<T>) => asAuthRole(pool, work);
  return {
    async changePassword(session: SessionClaims, input: Record<string, unknown>): Promise<void> {
      const { current_password: current, new_password: next } = parseInput(ChangePasswordInput, input);
      await passwords.inLine(async (bcrypt) => {
        const checkedVersion = await checkCurrentPassword(pool, throttle, session, current, bcrypt);
        const hash = await bcrypt.hash(next);
        const changed = await asAuth((query) =>
          query.value<boolean>("select app_private.set_password($1, $2, $3, $4)", [
            session.userId,
            hash,
            session.sessionId,
            checkedVersion,
          ]),
        );
        if (!changed) throw conflict("The password or this session changed meanwhile; sign in again");
      }, `user ${session.userId}`);
    },

    /**
     * Sudo mode (GitHub's): the password, checked again and throttled like a change of password,
     * lets this session make sensitive changes until the time returned (REAUTHENTICATION_TTL):
     * the admin role granted or taken, an admin deactivated or deleted, the tenant deleted. SQL
     * refuses those outside it (REAUTHENTICATION_REQUIRED, app_private.require_reauthentication).
     */
    async confirmPassword(session: SessionClaims, input: Record<string, unknown>): Promise<{ reauthenticated_until: string }> {
      const { password } = parseInput(ConfirmPasswordInput, input);
      return passwords.inLine(async (bcrypt) => {
        const checkedVersion = await checkCurrentPassword(pool, throttle, session, password, bcrypt);
        const until = await asAuth((query) =>
          query.value<Date | null>("select app_private.confirm_password($1, $2, $3, $4)", [
            session.userId,
            session.sessionId,
            checkedVersion,
            `${throttle.reauthenticationTtlSeconds} seconds`,
          ]),
        );
        if (!until) throw conflict("The password or this session changed meanwhile; sign in again");
        return { reauthenticated_until: until.toISOString() };
      }, `user ${session.userId}`);
    },
  };
}

import { randomBytes } from "node:crypto";
import type pg from "pg";
import { codeOfPgError } from "../db/error-codes.ts";
import { runTransaction } from "../db/transaction.ts";
import { emailTaken, invalidInput } from "../errors.ts";
import { MemberInput, parseInput } from "../auth/inputs.ts";
import { hashPassword } from "../auth/passwords.ts";

/** A user an operator added. */
export interface AddedMember {
  id: number;
  tenant_id: number;
  email: string;
  role: string;
  /** False when no password was given: the address was sent a reset link to choose one. */
  password_set: boolean;
}

/**
 * An operator adds a user to a tenant (`npm run stoflow -- users:add`; the tests' shared helper),
 * as the database owner: the API has no such call, since an admin choosing the password of an
 * address they do not own squatted it (people are invited instead). Without a password, the
 * account gets one nobody knows and the address a reset link, so its owner chooses theirs (and
 * proves the address). EMAIL_TAKEN when an account has the address: one account, one tenant.
 */
export async function addTeamMember(owner: pg.Pool, input: Record<string, unknown>, bcryptCost: number): Promise<AddedMember> {
  const { tenant_id: tenantId, email, role, full_name: fullName, password } = parseInput(MemberInput, input);
  const hash = await hashPassword(password ?? randomBytes(24).toString("base64url"), bcryptCost);
  const id = await runTransaction(owner, {}, async (client) => {
    const {
      rows: [added],
    } = await client.query<{ id: number }>("select app_private.add_team_member($1, $2, $3, $4, $5) as id", [
      tenantId,
      email,
      fullName ?? null,
      role,
      hash,
    ]);
    if (!password) await client.query("select app_private.queue_account_email('reset_password', $1)", [email]);
    return added.id;
  }).catch(memberRefused);
  return { id, tenant_id: tenantId, email, role, password_set: Boolean(password) };
}

function memberRefused(error: unknown): never {
  const code = codeOfPgError(error);
  if (code === "DUPLICATE") throw emailTaken();
  if (code === "INVALID_INPUT") throw invalidInput((error as Error).message);
  throw error;
}

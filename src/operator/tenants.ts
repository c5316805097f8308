import type pg from "pg";
import { parseInput, RegisterInput } from "../auth/inputs.ts";
import { createPasswordHasher } from "../auth/passwords.ts";
import { insertTenant } from "../auth/registration.ts";
import { sessionView } from "../auth/session-tokens.ts";
import { asAuthRole } from "../auth/transactions.ts";
import { billingSqlSettings } from "../config/billing.ts";
import type { OperatorConfig } from "../config/operator.ts";

/**
 * Registers a tenant and its admin for an operator (`stoflow tenants:create`): the same input
 * rules and SQL as registration (a paid tier starts as a trial), without throttling, session or tokens (no JWT secret needed).
 */
export async function createTenant(
  pool: pg.Pool,
  { bcryptCost, billing }: OperatorConfig,
  input: Record<string, unknown>,
): Promise<{ tenant_id: number; user_id: number; schema: string }> {
  const registration = parseInput(RegisterInput, input);
  const passwords = createPasswordHasher({ cost: bcryptCost, concurrency: 1, queueLimit: 0 });
  const hash = await passwords.inLine((bcrypt) => bcrypt.hash(registration.password));
  return asAuthRole(
    pool,
    async (query) => {
      const created = await insertTenant(query, registration, hash);
      return { ...created, schema: (await sessionView(query, created.user_id)).tenant.schema_name };
    },
    billingSqlSettings(billing),
  );
}

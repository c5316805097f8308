import { readBcryptCost } from "./auth.ts";
import { readBillingConfig, type BillingConfig } from "./billing.ts";

/** What operator commands need (`npm run stoflow -- tenants:create`, `users:add`): they hash passwords and sign no tokens. */
export interface OperatorConfig {
  bcryptCost: number;
  /** A tenant created on a paid tier starts as a trial, as registration does. */
  billing: BillingConfig;
}

export function readOperatorConfig(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  return { bcryptCost: readBcryptCost(env), billing: readBillingConfig(env) };
}

import { readBcryptCost } from "./auth.ts";

/** What operator commands need (`npm run stoflow -- tenants:create`, `users:add`): they hash passwords and sign no tokens. */
export interface OperatorConfig {
  bcryptCost: number;
}

export function readOperatorConfig(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  return { bcryptCost: readBcryptCost(env) };
}

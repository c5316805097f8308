import { integer } from "../src/config/fields.ts";

/**
 * The bench's own settings, read by the same rules as the server's (src/config/fields.ts): a
 * whole number within bounds, or the run stops saying which setting is wrong. Each bench script
 * has an embedded cluster of its own, on its own default port (BENCH_PG_PORT moves it).
 */
export function readBenchConfig(env: NodeJS.ProcessEnv, defaultPgPort: number) {
  return {
    /** Seconds of each measured round. */
    seconds: integer(env, "BENCH_SECONDS", 8, 1, 3_600),
    /** Rounds of each ABAB comparison. */
    rounds: integer(env, "BENCH_ROUNDS", 3, 1, 100),
    /** Tenants of `npm run bench` (`--tenants` wins). */
    tenants: integer(env, "BENCH_TENANTS", 1000, 1, 1_000_000),
    /** Processes registering tenants at once (`npm run bench:ceiling`). */
    provisioners: integer(env, "BENCH_PROVISIONERS", 2, 1, 64),
    pgPort: integer(env, "BENCH_PG_PORT", defaultPgPort, 1, 65535),
    /** First of the HTTP ports `npm run bench:ceiling` starts its gateways on (it takes four), apart from another run's. */
    httpPort: integer(env, "BENCH_HTTP_PORT", 3931, 1, 65532),
  };
}

/**
 * Throttles lifted for load runs, which register and sign in from one address (127.0.0.1) far
 * more than any client should; the bench's servers take them, the tests have their own.
 */
export const LOAD_RUN_LIMITS = {
  // Tokens minted at provisioning outlive the run: 10,000 registrations took 12 minutes, and every
  // phase after the default 15 was answered 401.
  ACCESS_TOKEN_TTL: "86400",
  LOGIN_MAX_ATTEMPTS_PER_ADDRESS: "1000000",
  REGISTRATIONS_PER_ADDRESS_PER_HOUR: "1000000",
  REGISTRATIONS_PER_EMAIL_PER_HOUR: "1000000",
  BCRYPT_QUEUE_LIMIT: "10000",
};

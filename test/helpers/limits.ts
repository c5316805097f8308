/**
 * Throttles lifted for tests and load runs, which register and sign in from one address
 * (127.0.0.1) far more than any client should. The per-e-mail login limit keeps its default (5),
 * which the auth tests check; attack tests start gateways with low limits of their own.
 */
export const GENEROUS_LIMITS = {
  LOGIN_MAX_ATTEMPTS_PER_ADDRESS: "1000000",
  REGISTRATIONS_PER_ADDRESS_PER_HOUR: "1000000",
  REGISTRATIONS_PER_EMAIL_PER_HOUR: "1000000",
  BCRYPT_QUEUE_LIMIT: "10000",
};

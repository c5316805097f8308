/**
 * PostgreSQL error codes (SQLSTATE) a client can act on, with the stable code it is answered with:
 * one table for the GraphQL errors (`extensions.code`) and the auth service (REST `code`).
 * Our own SQLSTATEs (SF…) are raised by the SQL functions and triggers named beside them.
 */
const CODE_OF_SQLSTATE: Readonly<Record<string, string>> = {
  "23505": "DUPLICATE", // unique_violation
  "23503": "INVALID_INPUT", // foreign_key_violation
  "23502": "INVALID_INPUT", // not_null_violation
  "23514": "INVALID_INPUT", // check_violation
  "22001": "INVALID_INPUT", // string_data_right_truncation
  "22003": "INVALID_INPUT", // numeric_value_out_of_range
  "22007": "INVALID_INPUT", // invalid_datetime_format
  "22008": "INVALID_INPUT", // datetime_field_overflow
  "22P02": "INVALID_INPUT", // invalid_text_representation
  "22023": "INVALID_INPUT", // invalid_parameter_value
  "22021": "INVALID_INPUT", // character_not_in_repertoire (a NUL in text)
  "22P05": "INVALID_INPUT", // untranslatable_character
  "42501": "FORBIDDEN", // insufficient_privilege, row-level security
  P0002: "NOT_FOUND", // no_data_found: the row (a tenant being deleted) is gone
  // A transaction that lost a race with another one (nothing it did was kept): retrying is safe.
  "40P01": "CONFLICT", // deadlock_detected
  "40001": "CONFLICT", // serialization_failure
  "55P03": "CONFLICT", // lock_not_available (lock_timeout, NOWAIT, a deletion that gave up waiting)
  SFSES: "INVALID_TOKEN", // app_private.require_live_session: the session ended, or its token is outdated
  SFMNT: "TENANT_MAINTENANCE", // app_private.assert_tenant_available: the tenant's schema lags behind the template
  SFLIM: "LIMIT_REACHED", // a tier limit (products, platforms, AI credits)
  SFSUS: "SUBSCRIPTION_INACTIVE", // the tenant is suspended or cancelled
  SFTRN: "INVALID_TRANSITION", // a status change the rules refuse
  SFADM: "LAST_ADMIN", // the last active admin of a tenant
  SFBIG: "EXPORT_TOO_LARGE", // a tenant export beyond EXPORT_MAX_BYTES or its time limit
  SFRAU: "REAUTHENTICATION_REQUIRED", // app_private.require_reauthentication: a sensitive change outside sudo mode
  SFPAY: "PAYMENT_REQUIRED", // change_subscription_tier: a paid tier with no trial open to it (pay through Checkout)
};

/** SQLSTATEs read on their own: a tenant table that does not resolve, a privilege refused. */
export const UNDEFINED_TABLE = "42P01";
export const INSUFFICIENT_PRIVILEGE = "42501";

/** The SQLSTATE of a PostgreSQL error, if `error` is one. */
export function sqlstateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * The stable code of a PostgreSQL error: the table above, then class 22 (data exception: a bad
 * LIKE pattern, a number out of range…), which is always about the client's input.
 */
export function codeOfPgError(error: unknown): string | undefined {
  const sqlstate = sqlstateOf(error);
  if (sqlstate === undefined) return undefined;
  if (Object.hasOwn(CODE_OF_SQLSTATE, sqlstate)) return CODE_OF_SQLSTATE[sqlstate];
  return sqlstate.startsWith("22") ? "INVALID_INPUT" : undefined;
}

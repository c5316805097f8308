import { GraphQLError } from "postgraphile/graphql";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { isSafeError } from "postgraphile/grafast";
import { defaultMaskError } from "postgraphile/grafserv";
import { AuthError } from "../auth/errors.ts";
import type { ConstraintMessages } from "../db/constraint-messages.ts";
import { LOST_RACE_CODES } from "../db/lost-race.ts";
import { isDeadSession } from "../db/transaction.ts";
import { isDatabaseUnavailable, UNAVAILABLE } from "../db/unavailable.ts";

/** PostgreSQL error codes a client can act on, with the stable code it gets in `extensions`. */
const ACTIONABLE: Record<string, string> = {
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
  ...Object.fromEntries(LOST_RACE_CODES.map((code) => [code, "CONFLICT"])), // a lost race: retry
  SFLIM: "LIMIT_REACHED", // a tier limit (products, platforms, AI credits)
  SFSUS: "SUBSCRIPTION_INACTIVE", // the tenant is suspended or cancelled
  SFTRN: "INVALID_TRANSITION", // a status change the rules refuse
  SFADM: "LAST_ADMIN", // the last active admin of a tenant
  SFBIG: "EXPORT_TOO_LARGE", // a tenant export beyond EXPORT_MAX_BYTES or its time limit
};

/**
 * The stable code of a SQLSTATE: the table above, then class 22 (data exception: a bad LIKE
 * pattern, a number out of range…), which is always about the client's input.
 */
function codeOf(sqlstate: string): string | undefined {
  if (Object.hasOwn(ACTIONABLE, sqlstate)) return ACTIONABLE[sqlstate];
  return sqlstate.startsWith("22") ? "INVALID_INPUT" : undefined;
}

/** A privilege or row-level security refused the request. */
const INSUFFICIENT_PRIVILEGE = "42501";
const NOT_ALLOWED = "Not allowed for your role or account";
/** PostgreSQL's words for it (our own rules raise 42501 with a message meant for the client). */
const POSTGRES_REFUSAL = /^(permission denied for|new row violates row-level security policy)/;

/** A tenant table that does not resolve: the request has no tenant schema on its search_path. */
const UNDEFINED_TABLE = "42P01";
const NO_TENANT_CONTEXT = "No tenant context: sign in with a tenant account to reach tenant data";

/**
 * Errors people can act on keep their message and get a stable `extensions.code`; the rest is
 * masked (logged as JSON with an id the client is given). PostgreSQL's `detail` (which can hold row
 * values) never leaves the server.
 */
export function maskErrorWith(logger: Logger, messages: ConstraintMessages) {
  return (error: GraphQLError): GraphQLError => maskError(error, logger, messages);
}

type OriginalError = Error & { code?: string; retryAfterSeconds?: number; table?: string; constraint?: string; column?: string };

function maskError(error: GraphQLError, logger: Logger, messages: ConstraintMessages): GraphQLError {
  const original = error.originalError as OriginalError | undefined;
  if (original instanceof AuthError) {
    const retry = original.retryAfterSeconds ? { retryAfter: original.retryAfterSeconds } : {};
    return withCode(error, original.message, original.code, retry);
  }
  if (original && isDeadSession(original)) return withCode(error, original.message, "INVALID_TOKEN");
  if (original && isDatabaseUnavailable(original)) return withCode(error, UNAVAILABLE.message, UNAVAILABLE.code);
  if (original?.code === UNDEFINED_TABLE) return withCode(error, NO_TENANT_CONTEXT, "NO_TENANT_CONTEXT");
  if (/^Invalid ('(after|before)' )?cursor/.test(error.message)) {
    return withCode(error, error.message.replace(/ digest .*/, ""), "INVALID_INPUT");
  }
  // PostGraphile's answer when an update or delete matched no row the request may see.
  if (original && /^No values were (updated|deleted) in collection/.test(original.message)) {
    return withCode(error, "No such row, or not yours to change", "NOT_FOUND");
  }
  const code = original?.code ? codeOf(original.code) : undefined;
  const refused = original && messages.of(original);
  if (code && refused) {
    // The constraint's name and PostgreSQL's words stay here; the client gets the field and why.
    logger.info({ constraint: original.constraint, table: original.table, column: original.column, path: error.path }, "constraint refused a write");
    return withCode(error, refused.message, code, { field: refused.field });
  }
  // A data exception whose field was found (bad-value-plugin.ts) keeps that message and field.
  const field = error.extensions?.field;
  if (code && original && typeof field === "string") return withCode(error, error.message, code, { field });
  // PostgreSQL's own refusal names the function, table or policy: not the client's business.
  if (original?.code === INSUFFICIENT_PRIVILEGE && POSTGRES_REFUSAL.test(original.message)) return withCode(error, NOT_ALLOWED, "FORBIDDEN");
  if (code && original) return withCode(error, original.message, code);
  if (!original || original instanceof GraphQLError || isSafeError(original)) return defaultMaskError(error);
  // Anything else stays masked: logged here, with an id the client can quote.
  const errorId = randomUUID();
  logger.error({ err: original, errorId, path: error.path }, "masked GraphQL error");
  return withCode(error, `An error occurred (logged with id ${errorId})`, "INTERNAL");
}

/** The error with a stable code in `extensions` (and its message kept). */
export const coded = (error: GraphQLError, code: string) => withCode(error, error.message, code);

function withCode(error: GraphQLError, message: string, code: string, extra: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    extensions: { code, ...extra },
  });
}

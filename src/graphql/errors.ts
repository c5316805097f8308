import { GraphQLError } from "postgraphile/graphql";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { isSafeError } from "postgraphile/grafast";
import { defaultMaskError } from "postgraphile/grafserv";
import { classify } from "../errors.ts";
import type { ConstraintMessages } from "../db/constraint-messages.ts";
import { codeOfPgError, INSUFFICIENT_PRIVILEGE, UNDEFINED_TABLE } from "../db/error-codes.ts";

/** What a privilege or row-level security refusal tells the client. */
const NOT_ALLOWED = "Not allowed for your role or account";
/** PostgreSQL's words for it (our own rules raise 42501 with a message meant for the client). */
const POSTGRES_REFUSAL = /^(permission denied for|new row violates row-level security policy)/;

/** A tenant table that does not resolve (UNDEFINED_TABLE): the request has no tenant schema on its search_path. */
const NO_TENANT_CONTEXT = "No tenant context: sign in with a tenant account to reach tenant data";

/**
 * Errors people can act on keep their message and get a stable `extensions.code`; the rest is
 * masked (logged as JSON with an id the client is given). PostgreSQL's `detail` (which can hold row
 * values) never leaves the server.
 */
export function maskErrorWith(logger: Logger, messages: ConstraintMessages, hideSuggestions = false) {
  return (error: GraphQLError): GraphQLError => {
    const masked = maskError(error, logger, messages);
    return hideSuggestions ? withoutSuggestion(masked) : masked;
  };
}

/** graphql-js's hints at names the schema has (`Did you mean "products"?`, `… the enum value "X"?`). */
const SUGGESTION = /\s*Did you mean .*\?$/s;

/**
 * The error without graphql-js's suggestion of field, argument, type or value names: where
 * introspection is off (production), a client may not list the schema by typos either.
 * (graphql-js 17 has `hideSuggestions`; 16 has not.)
 */
export function withoutSuggestion(error: GraphQLError): GraphQLError {
  if (!SUGGESTION.test(error.message)) return error;
  const { nodes, source, positions, path, extensions } = error;
  return new GraphQLError(error.message.replace(SUGGESTION, ""), { nodes, source, positions, path, extensions });
}

type OriginalError = Error & { code?: string; table?: string; constraint?: string; column?: string };

/** graphql-js's refusal of a request's variables (missing, null for a non-null type, of the wrong type): a validation error. */
const VARIABLE_REFUSAL = /^Variable "\$\w+" /;

function maskError(error: GraphQLError, logger: Logger, messages: ConstraintMessages): GraphQLError {
  const original: OriginalError | undefined = error.originalError;
  if (error.path === undefined && VARIABLE_REFUSAL.test(error.message)) return withCode(error, error.message, "GRAPHQL_VALIDATION_FAILED");
  // A ClientError, SQL's refusal with a status of its own, a database that cannot serve (src/errors.ts).
  const known = original && classify(original);
  if (known) return withCode(error, known.message, known.code, known.retryAfterSeconds ? { retryAfter: known.retryAfterSeconds } : {});
  const code = codeOfPgError(original);
  if (original?.code === UNDEFINED_TABLE) return withCode(error, NO_TENANT_CONTEXT, "NO_TENANT_CONTEXT");
  // postgraphile-plugin-connection-filter's refusal of `null` or `{}` in a filter (connectionFilterAllowNullInput and …EmptyObjectInput are off).
  if (original && /^(Null literals|Empty objects) are forbidden in filter argument input\.$/.test(original.message)) {
    return withCode(error, original.message, "INVALID_INPUT");
  }
  if (/^Invalid ('(after|before)' )?cursor/.test(error.message)) {
    return withCode(error, error.message.replace(/ digest .*/, ""), "INVALID_INPUT");
  }
  // PostGraphile's answer when an update or delete matched no row the request may see.
  if (original && /^No values were (updated|deleted) in collection/.test(original.message)) {
    return withCode(error, "No such row, or not yours to change", "NOT_FOUND");
  }
  const refused = original && messages.of(original);
  if (code && refused) {
    // The constraint's name and PostgreSQL's words stay here; the client gets the field and why.
    logger.info(
      { constraint: original.constraint, table: original.table, column: original.column, path: error.path },
      "constraint refused a write",
    );
    return withCode(error, refused.message, code, { field: refused.field });
  }
  // A data exception whose field was found (bad-value-plugin.ts) keeps that message and field.
  const field = error.extensions?.field;
  if (code && original && typeof field === "string") return withCode(error, error.message, code, { field });
  // PostgreSQL's own refusal names the function, table or policy: not the client's business.
  if (original?.code === INSUFFICIENT_PRIVILEGE && POSTGRES_REFUSAL.test(original.message))
    return withCode(error, NOT_ALLOWED, "FORBIDDEN");
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

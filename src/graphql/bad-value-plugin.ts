import {
  GraphQLError,
  Kind,
  valueFromASTUntyped,
  type ExecutionResult,
  type FieldNode,
  type OperationDefinitionNode,
} from "postgraphile/graphql";
import type { GrafastExecutionArgs } from "postgraphile/grafast";

/** A value the client sent, with the input field it came in. */
interface Sent {
  field: string;
  value: unknown;
}

type PgError = Error & { code?: string; detail?: string };

/**
 * Every value of the arguments, with the name of the input field that holds it: leaves, then the
 * object holding them (a scalar such as BigFloat takes an object as its text, `[object Object]`,
 * and the innermost object is the one at fault).
 */
function leaves(value: unknown, field = ""): Sent[] {
  if (Array.isArray(value)) return [...value.flatMap((item) => leaves(item, field)), { field, value }];
  if (value && typeof value === "object") return [...Object.entries(value).flatMap(([key, item]) => leaves(item, key)), { field, value }];
  return [{ field, value }];
}

/**
 * The text a scalar makes of a sent value, as PostgreSQL quotes it back: an array's items joined
 * by commas, an object `[object Object]`. Never String() of an object itself: graphql-js builds
 * the objects of a document's literals without a prototype, which String() cannot convert.
 */
function textOf(value: unknown): string {
  if (Array.isArray(value)) return value.map((item) => (item === null || item === undefined ? "" : textOf(item))).join(",");
  return value !== null && typeof value === "object" ? "[object Object]" : String(value);
}

/** PostgreSQL's spellings of an infinite number ("Infinity", "-inf"…), which a numeric(p, s) column cannot hold. */
const INFINITE = /^\s*[+-]?inf(inity)?\s*$/i;

/** What the client sent to the root field answered at `responseKey`, variables resolved. */
function sentTo(args: GrafastExecutionArgs, responseKey: string): Sent[] {
  const operation = args.document.definitions.find(
    (definition): definition is OperationDefinitionNode =>
      definition.kind === Kind.OPERATION_DEFINITION && (!args.operationName || definition.name?.value === args.operationName),
  );
  const field = operation?.selectionSet.selections.find(
    (selection): selection is FieldNode => selection.kind === Kind.FIELD && (selection.alias ?? selection.name).value === responseKey,
  );
  const variables = (args.variableValues ?? {}) as Record<string, unknown>;
  return (field?.arguments ?? []).flatMap((argument) => leaves(valueFromASTUntyped(argument.value, variables), argument.name.value));
}

/**
 * PostgreSQL's data exceptions (class 22) name the type, not the column: the value at fault is
 * found among what the client sent, and the error says which field and why.
 */
function explain(error: PgError, sent: Sent[]): { field: string; message: string } | undefined {
  const quoted = /: "(.*)"$/.exec(error.message)?.[1] ?? /^value "(.*)" is out of range/.exec(error.message)?.[1];
  if (quoted !== undefined) {
    const culprit = sent.find(({ value }) => textOf(value) === quoted);
    const kind = /timestamp|date|time/.test(error.message) ? "a date and time (ISO 8601: 2026-11-25T10:00:00Z)" : "a number";
    return culprit && { field: culprit.field, message: `${culprit.field} must be ${kind}` };
  }
  if (/^invalid byte sequence for encoding "UTF8": 0x00$/.test(error.message)) {
    const culprit = sent.find(({ value }) => typeof value === "string" && value.includes("\u0000"));
    return culprit && { field: culprit.field, message: `${culprit.field} must not contain NUL characters` };
  }
  const maxLength = /character varying\((\d+)\)/.exec(error.message)?.[1];
  if (maxLength) {
    const culprit = sent.find(({ value }) => typeof value === "string" && [...value].length > Number(maxLength));
    return culprit && { field: culprit.field, message: `${culprit.field} must be at most ${maxLength} characters` };
  }
  if (/infinite value/.test(error.detail ?? "")) {
    const culprit = sent.find(({ value }) => typeof value === "string" && INFINITE.test(value));
    return culprit && { field: culprit.field, message: `${culprit.field} must be a finite number` };
  }
  const digits = /less than 10\^(\d+)/.exec(error.detail ?? "")?.[1];
  if (digits) {
    const culprit = sent.find(({ value }) => typeof value !== "object" && Math.abs(Number(value)) >= 10 ** Number(digits));
    return (
      culprit && { field: culprit.field, message: `${culprit.field} must be less than ${(10 ** Number(digits)).toLocaleString("en")}` }
    );
  }
  return undefined;
}

/** The SQLSTATE of the error's PostgreSQL cause, if it has one. */
function pgCodeOf(error: GraphQLError): string | undefined {
  const original: PgError | undefined = error.originalError;
  return original?.code;
}

/** The error naming its field in `extensions.field`, when the value at fault was found. */
function withField(error: GraphQLError, args: GrafastExecutionArgs): GraphQLError {
  const original: PgError | undefined = error.originalError;
  const responseKey = error.path?.[0];
  if (!original?.code?.startsWith("22") || typeof responseKey !== "string") return error;
  const found = explain(original, sentTo(args, responseKey));
  return found
    ? new GraphQLError(found.message, {
        nodes: error.nodes,
        source: error.source,
        positions: error.positions,
        path: error.path,
        originalError: original,
        extensions: { field: found.field },
      })
    : error;
}

/** A value PostgreSQL refuses as malformed, too long or too large names its field (maskError keeps the field and message). */
export const BadValuePlugin: GraphileConfig.Plugin = {
  name: "StoflowBadValuePlugin",
  version: "1.0.0",
  description: "extensions.field and a plain message for PostgreSQL's data exceptions",
  grafast: {
    middleware: {
      async execute(next, event) {
        const result = await next();
        const errors = (result as ExecutionResult).errors;
        if (!errors?.some((error) => pgCodeOf(error)?.startsWith("22"))) return result;
        return { ...result, errors: errors.map((error) => withField(error, event.args)) };
      },
    },
  },
};

import { SafeError } from "postgraphile/grafast";
import {
  Kind, parse, type DocumentNode, type FieldNode, type FragmentDefinitionNode, type SelectionSetNode, type ValueNode,
} from "postgraphile/graphql";

/** How much one GraphQL request may ask for. */
export interface QueryLimits {
  /** Deepest nesting of fields. */
  maxDepth: number;
  /** Largest `first` / `last` of a list. */
  maxPageSize: number;
  /** Largest estimated number of values returned (lists multiply their children). */
  maxCost: number;
  /** Most fields at the root of an operation (aliases make one request many operations). */
  maxRootFields: number;
}

export const DEFAULT_LIMITS: QueryLimits = { maxDepth: 12, maxPageSize: 100, maxCost: 50_000, maxRootFields: 20 };

/** A refusal the client can act on: HTTP 400 with a stable code. */
function refuse(code: string, message: string): never {
  throw new SafeError(message, { statusCode: 400, code });
}

/**
 * Checks an operation before it is planned. Lists with no `first`/`last` count as a full page in
 * the cost, so an unbounded list of lists is refused as too costly.
 */
export function checkQueryLimits(document: DocumentNode, variables: Record<string, unknown>, operationName: string | undefined, limits: QueryLimits): void {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    if (operationName && definition.name?.value !== operationName) continue;
    const walker = new Walker(fragments, variables, limits);
    if (walker.fields(definition.selectionSet).length > limits.maxRootFields) {
      refuse("TOO_MANY_OPERATIONS", `An operation may have at most ${limits.maxRootFields} root fields`);
    }
    const cost = walker.cost(definition.selectionSet, 1, 1);
    if (cost > limits.maxCost) {
      refuse("QUERY_TOO_COSTLY", `This query could return about ${cost} values; the limit is ${limits.maxCost}. Ask for smaller pages.`);
    }
  }
}

class Walker {
  private readonly fragments: Map<string, FragmentDefinitionNode>;
  private readonly variables: Record<string, unknown>;
  private readonly limits: QueryLimits;

  constructor(fragments: Map<string, FragmentDefinitionNode>, variables: Record<string, unknown>, limits: QueryLimits) {
    this.fragments = fragments;
    this.variables = variables;
    this.limits = limits;
  }

  /** The fields of a selection set, with fragments spread in (each fragment once per path). */
  fields(selectionSet: SelectionSetNode, seen: ReadonlySet<string> = new Set()): FieldNode[] {
    return selectionSet.selections.flatMap((selection) => {
      if (selection.kind === Kind.FIELD) return [selection];
      if (selection.kind === Kind.INLINE_FRAGMENT) return this.fields(selection.selectionSet, seen);
      const name = selection.name.value;
      const fragment = this.fragments.get(name);
      return fragment && !seen.has(name) ? this.fields(fragment.selectionSet, new Set([...seen, name])) : [];
    });
  }

  /** Estimated values returned under a selection set reached `multiplier` times, at `depth`. */
  cost(selectionSet: SelectionSetNode, multiplier: number, depth: number): number {
    if (depth > this.limits.maxDepth) refuse("QUERY_TOO_DEEP", `Queries may nest at most ${this.limits.maxDepth} levels`);
    let total = 0;
    for (const field of this.fields(selectionSet)) {
      total += multiplier;
      if (field.selectionSet) total += this.cost(field.selectionSet, multiplier * this.pageSize(field), depth + 1);
      if (total > this.limits.maxCost) return total;
    }
    return total;
  }

  /** How many items a field can return: its first/last, a full page for a connection without. */
  private pageSize(field: FieldNode): number {
    const sizes = (field.arguments ?? [])
      .filter((arg) => arg.name.value === "first" || arg.name.value === "last")
      .map((arg) => this.intValue(arg.value));
    for (const size of sizes) {
      if (size !== null && (size < 0 || size > this.limits.maxPageSize)) {
        refuse("PAGE_SIZE_TOO_LARGE", `first and last must be between 0 and ${this.limits.maxPageSize}`);
      }
    }
    const given = sizes.find((size) => size !== null);
    if (given !== undefined && given !== null) return Math.max(given, 1);
    return this.isConnection(field) ? this.limits.maxPageSize : 1;
  }

  /** A connection selects `nodes` or `edges`; without first/last it may return a whole page. */
  private isConnection(field: FieldNode): boolean {
    return field.selectionSet !== undefined
      && this.fields(field.selectionSet).some((child) => child.name.value === "nodes" || child.name.value === "edges");
  }

  private intValue(value: ValueNode): number | null {
    if (value.kind === Kind.INT) return Number(value.value);
    if (value.kind === Kind.VARIABLE) {
      const given = this.variables[value.name.value];
      return typeof given === "number" ? given : null;
    }
    return null;
  }
}

/** Parsed documents by query text, so a repeated query is parsed once (bounded). */
const parsedDocuments = new Map<string, DocumentNode>();
const MAX_CACHED_DOCUMENTS = 500;

export function parseCached(query: string): DocumentNode | null {
  let document = parsedDocuments.get(query);
  if (!document) {
    try {
      document = parse(query);
    } catch {
      return null; // grafserv reports the syntax error itself
    }
    if (parsedDocuments.size >= MAX_CACHED_DOCUMENTS) parsedDocuments.delete(parsedDocuments.keys().next().value!);
    parsedDocuments.set(query, document);
  }
  return document;
}

/** Grafserv middleware: refuses over-limit operations with HTTP 400 before planning. */
export function queryLimitsPlugin(limits: QueryLimits = DEFAULT_LIMITS): GraphileConfig.Plugin {
  return {
    name: "StoflowQueryLimitsPlugin",
    version: "1.0.0",
    grafserv: {
      middleware: {
        processGraphQLRequestBody(next, event) {
          const { query, variableValues, operationName } = event.body as { query?: unknown; variableValues?: unknown; operationName?: unknown };
          if (typeof query === "string") {
            const document = parseCached(query);
            const variables = variableValues && typeof variableValues === "object" ? (variableValues as Record<string, unknown>) : {};
            if (document) checkQueryLimits(document, variables, typeof operationName === "string" ? operationName : undefined, limits);
          }
          return next();
        },
      },
    },
  };
}

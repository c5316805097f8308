import { SafeError } from "postgraphile/grafast";
import {
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  SchemaMetaFieldDef,
  TypeMetaFieldDef,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from "postgraphile/graphql";
import type { DocumentLimits } from "../config/graphql.ts";
import { EXPORT_FIELD } from "./export-line.ts";
import { CHARACTERS_PER_UNIT, WEIGHT_EXTENSION } from "./value-weight-plugin.ts";

export type { DocumentLimits };

/** A refusal the client can act on: HTTP 400 with a stable code. */
export function refuse(code: string, message: string): never {
  throw new SafeError(message, { statusCode: 400, code });
}

/** How many rows a list returns: a number, or the `first`/`last` of its field (variables resolved per request). */
type PageSize = { literal: number } | { variables: string[]; literals: number[] };

interface CompiledField {
  /** `nodes` / `edges` of a connection: as many as the connection's page. */
  pageList: boolean;
  /** Other lists: this many entries are assumed. */
  listSize: number;
  /** Set when the field takes first/last: the page size its connection returns. */
  page?: PageSize;
  /** Introspection: bounded by shape rules, not counted in the cost. */
  free: boolean;
  /** What one value of the field counts for (its column's width, see value-weight-plugin.ts). */
  weight: number;
  child?: CompiledSet;
}

/** One selection set, compiled once per document (fragments once, wherever they are spread). */
interface CompiledSet {
  fields: CompiledField[];
  includes: CompiledSet[];
  depth: number;
  /** Field selections with every fragment spread in, repeats included (grafast's planner expands each spread). */
  expandedFields: number;
  aliases: number;
  rootFields: number;
  passwordFields: number;
  /** Selections of a tenant export (EXPORT_FIELD on Query), wherever they appear. */
  exportFields: number;
  schemaReads: number;
  typeReads: number;
  /** Introspection list fields selected on this set (through fragments too), by name → response keys. */
  introspectionLists: Map<string, Set<string>>;
}

/** What a document needs checked per request: the page sizes its variables decide. */
export interface CompiledOperation {
  operation: OperationDefinitionNode;
  root: CompiledSet;
  /** Default values of the operation's variables. */
  defaults: Map<string, unknown>;
  /** Variables used as first/last ("size") or offset: a request that sends none of them has a fixed verdict. */
  pageVariables: Map<string, Set<"size" | "offset">>;
  /** The cost when no page variable is sent; undefined until first evaluated. */
  staticCost?: number;
  /** Only __schema / __type at the root: answered from the schema alone, without planning. */
  introspectionOnly: boolean;
}

const INTROSPECTION_LISTS = new Set(["types", "directives", "fields", "inputFields", "args", "enumValues", "interfaces", "possibleTypes"]);
/** Where a __Type may list its fields, interfaces…: the root positions. Elsewhere (type, ofType…) only its name and kind. */
const ROOT_TYPE_FIELDS = new Set(["__Schema.types", "__Schema.queryType", "__Schema.mutationType", "__Schema.subscriptionType", "__type"]);
const NESTED_TYPE_LISTS = new Set(["fields", "inputFields", "enumValues", "interfaces", "possibleTypes"]);

/**
 * Compiles the operations of a parsed document once, refusing what breaks a static limit: depth,
 * aliases, root fields, more than one password mutation, input nesting, introspection shapes.
 * Each fragment is compiled once and reused (memoized), so fragments that spread each other twice
 * per level cost linear time, not 2^n.
 *
 * Hand-built cost rules: graphql-query-complexity was checked. It reads arguments and variables
 * too, but walks the whole document again for every request (`getComplexity`); here a document is
 * compiled once and a request only evaluates its page variables. Measured on a products list with
 * three nested lists and `first` from a variable: 3.5 µs per request here, 113 µs with
 * getComplexity (32×, same run). It also runs after validation, while these limits must refuse
 * before it, in the line of new documents.
 */
export function compileDocument(
  schema: GraphQLSchema,
  document: DocumentNode,
  limits: DocumentLimits,
  passwordMutations: ReadonlySet<string>,
): CompiledOperation[] {
  return new DocumentCompiler(schema, document, limits, passwordMutations).compile();
}

class DocumentCompiler {
  private readonly fragments = new Map<string, FragmentDefinitionNode>();
  private readonly compiledFragments = new Map<string, CompiledSet | "compiling">();
  private readonly operations: OperationDefinitionNode[];
  private readonly schema: GraphQLSchema;
  private readonly limits: DocumentLimits;
  private readonly passwordMutations: ReadonlySet<string>;
  private pageVariables = new Map<string, Set<"size" | "offset">>();

  constructor(schema: GraphQLSchema, document: DocumentNode, limits: DocumentLimits, passwordMutations: ReadonlySet<string>) {
    this.schema = schema;
    this.limits = limits;
    this.passwordMutations = passwordMutations;
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) this.fragments.set(definition.name.value, definition);
    }
    this.operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  }

  compile(): CompiledOperation[] {
    return this.operations.map((operation) => {
      const defaults = new Map<string, unknown>();
      for (const definition of operation.variableDefinitions ?? []) {
        if (definition.defaultValue) {
          this.checkInputDepth(definition.defaultValue);
          defaults.set(definition.variable.name.value, literalValue(definition.defaultValue));
        }
      }
      this.pageVariables = new Map();
      const rootType = this.schema.getRootType(operation.operation);
      const root = this.compileSet(operation.selectionSet, rootType ?? undefined, 1);
      this.checkTotals(root);
      const introspectionOnly = root.rootFields > 0 && root.rootFields === root.schemaReads + root.typeReads;
      return { operation, root, defaults, pageVariables: this.pageVariables, introspectionOnly };
    });
  }

  private checkTotals(root: CompiledSet): void {
    const { limits } = this;
    if (root.depth > limits.maxDepth) refuse("QUERY_TOO_DEEP", `Queries may nest at most ${limits.maxDepth} levels`);
    if (root.expandedFields > limits.maxFields) {
      refuse("QUERY_TOO_COSTLY", `An operation may select at most ${limits.maxFields} fields once its fragments are spread`);
    }
    if (root.rootFields > limits.maxRootFields) {
      refuse("TOO_MANY_OPERATIONS", `An operation may have at most ${limits.maxRootFields} root fields`);
    }
    if (root.aliases > limits.maxAliases) refuse("TOO_MANY_ALIASES", `An operation may use at most ${limits.maxAliases} aliases`);
    if (root.passwordFields > 1) {
      refuse("TOO_MANY_OPERATIONS", `A request may carry at most one of ${[...this.passwordMutations].join(", ")}`);
    }
    if (root.exportFields > 1) refuse("TOO_MANY_OPERATIONS", `A request may carry at most one ${EXPORT_FIELD}`);
    if (root.schemaReads + root.typeReads > 0 && !limits.introspection)
      refuse("INTROSPECTION_DISABLED", "Introspection is disabled on this server");
    if (root.schemaReads > 1) refuse("QUERY_TOO_COSTLY", "An operation may read __schema once");
  }

  /** `nesting` counts every level (introspection too), to stop recursion in any later stage. */
  private compileSet(selectionSet: SelectionSetNode, type: GraphQLNamedType | undefined, nesting: number): CompiledSet {
    if (nesting > this.limits.maxDepth * 4) refuse("QUERY_TOO_DEEP", `Queries may nest at most ${this.limits.maxDepth} levels`);
    const set: CompiledSet = {
      fields: [],
      includes: [],
      depth: 0,
      expandedFields: 0,
      aliases: 0,
      rootFields: 0,
      passwordFields: 0,
      exportFields: 0,
      schemaReads: 0,
      typeReads: 0,
      introspectionLists: new Map(),
    };
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        this.addField(set, selection, type, nesting);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const condition = selection.typeCondition ? this.schema.getType(selection.typeCondition.name.value) : type;
        this.include(set, this.compileSet(selection.selectionSet, condition ?? undefined, nesting));
      } else {
        const fragment = this.compileFragment(selection.name.value, nesting);
        if (fragment) this.include(set, fragment);
      }
    }
    this.checkIntrospectionAliases(set);
    return set;
  }

  private compileFragment(name: string, nesting: number): CompiledSet | undefined {
    const known = this.compiledFragments.get(name);
    if (known === "compiling") return undefined; // a cycle: validation refuses it
    if (known) return known;
    const definition = this.fragments.get(name);
    if (!definition) return undefined;
    this.compiledFragments.set(name, "compiling");
    const type = this.schema.getType(definition.typeCondition.name.value) ?? undefined;
    const compiled = this.compileSet(definition.selectionSet, type, nesting);
    this.compiledFragments.set(name, compiled);
    return compiled;
  }

  private include(set: CompiledSet, included: CompiledSet): void {
    set.includes.push(included);
    set.depth = Math.max(set.depth, included.depth);
    this.addCounts(set, included);
    for (const [name, keys] of included.introspectionLists) mergeKeys(set.introspectionLists, name, keys);
  }

  private addCounts(set: CompiledSet, from: CompiledSet): void {
    set.expandedFields += from.expandedFields;
    set.aliases += from.aliases;
    set.rootFields += from.rootFields;
    set.passwordFields += from.passwordFields;
    set.exportFields += from.exportFields;
    set.schemaReads += from.schemaReads;
    set.typeReads += from.typeReads;
  }

  private addField(set: CompiledSet, node: FieldNode, parentType: GraphQLNamedType | undefined, nesting: number): void {
    const name = node.name.value;
    const definition = fieldDefinition(this.schema, parentType, name);
    const introspection = name.startsWith("__") || (parentType?.name.startsWith("__") ?? false);
    for (const argument of node.arguments ?? []) this.checkInputDepth(argument.value);
    set.expandedFields += 1;
    if (node.alias && node.alias.value !== name) set.aliases += 1;
    if (parentType && this.isRootType(parentType) && name !== "__typename") set.rootFields += 1;
    if (parentType === this.schema.getMutationType() && this.passwordMutations.has(name)) set.passwordFields += 1;
    if (parentType === this.schema.getQueryType() && name === EXPORT_FIELD) set.exportFields += 1;
    if (name === "__schema") set.schemaReads += 1;
    if (name === "__type") set.typeReads += 1;
    const returnType = definition ? getNamedType(definition.type) : undefined;
    const pageList = !introspection && (name === "nodes" || name === "edges") && isConnectionType(parentType);
    const compiled: CompiledField = {
      pageList,
      listSize: !pageList && definition && isListType(getNullableType(definition.type)) ? this.limits.defaultPageSize : 1,
      free: introspection,
      weight: ((definition?.extensions as Record<string, unknown> | undefined)?.[WEIGHT_EXTENSION] as number | undefined) ?? 1,
      ...(definition?.args.some((a) => a.name === "first" || a.name === "last") ? { page: this.pageSize(node) } : {}),
    };
    if (introspection && INTROSPECTION_LISTS.has(name)) mergeKeys(set.introspectionLists, name, new Set([node.alias?.value ?? name]));
    if (node.selectionSet) {
      const child = this.compileSet(node.selectionSet, returnType, nesting + 1);
      if (returnType?.name === "__Type" && !ROOT_TYPE_FIELDS.has(name === "__type" ? name : `${parentType?.name}.${name}`)) {
        this.checkNestedType(child);
      }
      compiled.child = child;
      set.depth = Math.max(set.depth, child.depth + (introspection ? 0 : 1));
      this.addCounts(set, child);
    } else {
      set.depth = Math.max(set.depth, introspection ? 0 : 1);
    }
    set.fields.push(compiled);
  }

  private isRootType(type: GraphQLNamedType): boolean {
    return type === this.schema.getQueryType() || type === this.schema.getMutationType();
  }

  /** A __Type reached through a field's type, ofType, interfaces…: its name and kind only, no lists (else the schema repeats itself). */
  private checkNestedType(child: CompiledSet): void {
    for (const name of child.introspectionLists.keys()) {
      if (NESTED_TYPE_LISTS.has(name))
        refuse("QUERY_TOO_COSTLY", `Introspection may list ${name} only of the types in __schema.types or __type`);
    }
  }

  /** In introspection each list is read under one name: aliases would repeat the schema. */
  private checkIntrospectionAliases(set: CompiledSet): void {
    for (const [name, keys] of set.introspectionLists) {
      if (keys.size > 1) refuse("QUERY_TOO_COSTLY", `Introspection may read ${name} once per selection, not under several aliases`);
    }
  }

  /** first / last / offset of a paginated field: literals checked now, variables recorded for each request. */
  private pageSize(node: FieldNode): PageSize {
    const literals: number[] = [];
    const variables: string[] = [];
    for (const argument of node.arguments ?? []) {
      const {
        name: { value: name },
        value,
      } = argument;
      if (name !== "first" && name !== "last" && name !== "offset") continue;
      if (value.kind === Kind.VARIABLE) {
        const uses = this.pageVariables.get(value.name.value) ?? new Set();
        uses.add(name === "offset" ? "offset" : "size");
        this.pageVariables.set(value.name.value, uses);
        if (name !== "offset") variables.push(value.name.value);
      } else if (value.kind === Kind.INT) {
        checkPageArgument(name, Number(value.value), this.limits);
        if (name !== "offset") literals.push(Number(value.value));
      }
    }
    return literals.length > 0 && variables.length === 0 ? { literal: Math.min(...literals) } : { variables, literals };
  }

  private checkInputDepth(value: ValueNode): void {
    if (inputDepth(value, this.limits.maxInputDepth + 1) > this.limits.maxInputDepth) {
      refuse("QUERY_TOO_DEEP", `Input values may nest at most ${this.limits.maxInputDepth} levels`);
    }
  }
}

function mergeKeys(target: Map<string, Set<string>>, name: string, keys: Set<string>): void {
  const existing = target.get(name);
  if (existing) for (const key of keys) existing.add(key);
  else target.set(name, new Set(keys));
}

function fieldDefinition(
  schema: GraphQLSchema,
  type: GraphQLNamedType | undefined,
  name: string,
): GraphQLField<unknown, unknown> | undefined {
  if (type && type === schema.getQueryType() && name === "__schema") return SchemaMetaFieldDef;
  if (type && type === schema.getQueryType() && name === "__type") return TypeMetaFieldDef;
  return type && (isObjectType(type) || isInterfaceType(type)) ? type.getFields()[name] : undefined;
}

/** A cursor connection: its `nodes` and `edges` are one page long. */
function isConnectionType(type: GraphQLNamedType | undefined): boolean {
  return !!type && isObjectType(type) && "pageInfo" in type.getFields() && ("nodes" in type.getFields() || "edges" in type.getFields());
}

function checkPageArgument(name: string, value: number, limits: DocumentLimits): void {
  if (name === "offset") {
    if (value < 0) refuse("INVALID_INPUT", "offset must not be negative");
  } else if (value < 0 || value > limits.maxPageSize) {
    refuse("PAGE_SIZE_TOO_LARGE", `first and last must be between 0 and ${limits.maxPageSize}`);
  }
}

/** Nesting of input objects and lists in a literal, counted up to `stopAt`. */
function inputDepth(value: ValueNode, stopAt: number): number {
  if (stopAt <= 0) return 0;
  if (value.kind === Kind.OBJECT) return 1 + Math.max(0, ...value.fields.map((f) => inputDepth(f.value, stopAt - 1)));
  if (value.kind === Kind.LIST) return 1 + Math.max(0, ...value.values.map((v) => inputDepth(v, stopAt - 1)));
  return 0;
}

/** The JS value of a constant literal (variable defaults); objects and lists are not needed here. */
function literalValue(value: ValueNode): unknown {
  if (value.kind === Kind.INT) return Number(value.value);
  if (value.kind === Kind.NULL) return null;
  return undefined;
}

/** Nesting of a JSON value (variables), counted up to `stopAt`, without recursion. */
export function jsonDepth(value: unknown, stopAt: number): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== "object") continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest >= stopAt) return deepest;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * Checks what depends on a request's variables (page sizes, input nesting), then the estimated
 * number of values returned. Linear in the compiled document: each set is evaluated once.
 */
export function checkVariables(compiled: CompiledOperation, variables: Record<string, unknown>, limits: DocumentLimits): void {
  if (jsonDepth(variables, limits.maxInputDepth + 2) > limits.maxInputDepth + 1) {
    refuse("QUERY_TOO_DEEP", `Input values may nest at most ${limits.maxInputDepth} levels`);
  }
  const sendsPageVariables = [...compiled.pageVariables.keys()].some((name) => variables[name] !== undefined);
  const value = (name: string): unknown => (variables[name] !== undefined ? variables[name] : compiled.defaults.get(name));
  for (const [name, uses] of compiled.pageVariables) {
    const given = value(name);
    if (typeof given === "number") for (const use of uses) checkPageArgument(use === "offset" ? "offset" : "first", given, limits);
  }
  const cost =
    !sendsPageVariables && compiled.staticCost !== undefined
      ? compiled.staticCost
      : new CostEstimator(limits, value).operationCost(compiled.root);
  if (!sendsPageVariables) compiled.staticCost = cost;
  if (cost > limits.maxCost) {
    refuse(
      "QUERY_TOO_COSTLY",
      `This query could return about ${cost} values; the limit is ${limits.maxCost} (a long text counts as one value per ${CHARACTERS_PER_UNIT} characters it may hold). Ask for smaller pages or fewer long fields.`,
    );
  }
}

class CostEstimator {
  /** Per set: cost = fixed + perPage × (page size of the connection the set belongs to). */
  private readonly memo = new Map<CompiledSet, { fixed: number; perPage: number }>();

  private readonly limits: DocumentLimits;
  private readonly variable: (name: string) => unknown;

  constructor(limits: DocumentLimits, variable: (name: string) => unknown) {
    this.limits = limits;
    this.variable = variable;
  }

  operationCost(root: CompiledSet): number {
    const { fixed, perPage } = this.setCost(root);
    return fixed + perPage; // the root is no connection: a page of one
  }

  private setCost(set: CompiledSet): { fixed: number; perPage: number } {
    const known = this.memo.get(set);
    if (known) return known;
    let fixed = 0;
    let perPage = 0;
    for (const field of set.fields) {
      if (field.free) continue;
      const child = field.child ? this.setCost(field.child) : { fixed: 0, perPage: 0 };
      // A connection reached without first/last (none here today) is taken as a default page.
      const page = field.page ? this.pageSizeOf(field.page) : this.limits.defaultPageSize;
      const each = field.listSize * (field.weight + child.fixed + child.perPage * page);
      if (field.pageList) perPage += each;
      else fixed += each;
    }
    for (const included of set.includes) {
      const cost = this.setCost(included);
      fixed += cost.fixed;
      perPage += cost.perPage;
    }
    const cost = { fixed, perPage };
    this.memo.set(set, cost);
    return cost;
  }

  private pageSizeOf(page: PageSize): number {
    if ("literal" in page) return page.literal;
    const sizes = [...page.literals, ...page.variables.map(this.variable).filter((v): v is number => typeof v === "number")];
    return sizes.length > 0 ? Math.min(...sizes) : this.limits.defaultPageSize;
  }
}

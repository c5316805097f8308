import { LRUCache } from "lru-cache";
import { isPromiseLike, SafeError, type GrafastExecutionArgs } from "postgraphile/grafast";
import type { IncomingMessage } from "node:http";
import type { ExecutionConfig, ProcessGraphQLRequestBodyEvent } from "postgraphile/grafserv";
import {
  execute as graphqlExecute,
  GraphQLError,
  Kind,
  OperationTypeNode,
  parse,
  print,
  Source,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from "postgraphile/graphql";
import { answerWith, refuseRequest } from "./answer-status.ts";
import { busy } from "../errors.ts";
import { coded, withoutSuggestion } from "./errors.ts";
import { NewDocumentLineFullError, type NewDocumentLine } from "../admission/new-document-line.ts";
import { ServerLineFullError } from "../admission/concurrency.ts";
import { hashes } from "./hashing-plugin.ts";
import { contextOf, type RequestContext } from "../http/request-context.ts";
import { checkVariables, compileDocument, refuse, type CompiledOperation, type DocumentLimits } from "./document-limits.ts";

/** Memory a cached document holds, per character of its text (syntax tree and compiled limits; measured ≈ 31×). */
const BYTES_PER_CHARACTER = 40;

interface AdmittedDocument {
  document: DocumentNode;
  operations: CompiledOperation[];
  bytes: number;
  /** graphql-js validation, run once per document. */
  errors?: readonly GraphQLError[];
  /** Whether grafast planned it once already (its plan is cached unless evicted). */
  planned: boolean;
}

type ParseAndValidateResult = { document: DocumentNode; errors?: undefined } | { document?: undefined; errors: readonly GraphQLError[] };

/**
 * Every GraphQL document passes here before it is parsed into a cache or planned: parsed with a
 * token limit, compiled against the schema (static limits), checked against each request's
 * variables (page sizes, cost), then validated. Only documents that pass every check are kept,
 * in an LRU bounded by the memory they hold; a refused document leaves nothing behind.
 *
 * GraphQL Armor's rules (max-tokens, -aliases, -depth, cost-limit) were the first choice; they do
 * not know connections' page sizes, variables or their defaults, so the token limit is graphql-js's
 * own (`maxTokens`, what Armor's max-tokens uses) and the rest is one pass of ours.
 */
export class DocumentGate {
  private readonly limits: DocumentLimits;
  private readonly passwordMutations: ReadonlySet<string>;
  /** Admitted documents by text, the least recently used going first beyond their budget of bytes (lru-cache). */
  private readonly admitted: LRUCache<string, AdmittedDocument>;
  private readonly byDocument = new WeakMap<DocumentNode, AdmittedDocument>();
  private schema: GraphQLSchema | undefined;
  private readonly schemaReady: Promise<void>;
  private resolveSchemaReady!: () => void;
  /** The last document that failed to parse, so grafserv's own parse step does not parse it again. */
  private lastSyntaxError: { query: string; error: GraphQLError } | undefined;

  private readonly newDocuments: NewDocumentLine;

  /** `newDocuments`: the line where documents not seen yet are parsed, compiled and validated, one at a time, within a budget of time. */
  constructor(limits: DocumentLimits, passwordMutations: ReadonlySet<string>, maxCacheBytes: number, newDocuments: NewDocumentLine) {
    this.newDocuments = newDocuments;
    this.limits = limits;
    this.passwordMutations = passwordMutations;
    this.admitted = new LRUCache({ maxSize: maxCacheBytes, sizeCalculation: (entry) => entry.bytes });
    this.schemaReady = new Promise((resolve) => {
      this.resolveSchemaReady = resolve;
    });
  }

  /** Documents kept, and the memory they are estimated to hold (for /metrics). */
  get cacheSize(): { documents: number; bytes: number } {
    return { documents: this.admitted.size, bytes: this.admitted.calculatedSize };
  }

  useSchema(schema: GraphQLSchema): void {
    if (schema === this.schema) return;
    this.schema = schema;
    this.admitted.clear();
    this.resolveSchemaReady();
  }

  /**
   * Refuses (SafeError, HTTP 400) a request whose document or variables break a limit. `request`:
   * whose it is (its client's turn in the line of new documents, and its turn in the server's line).
   */
  admit(
    query: string,
    variables: Record<string, unknown>,
    operationName: string | undefined,
    request: RequestContext | undefined,
  ): void | Promise<void> {
    if (!this.schema) return this.schemaReady.then(() => this.admit(query, variables, operationName, request));
    const known = this.admitted.get(query);
    if (known) return this.checkRequest(query, known, variables, operationName, request?.websocket);
    // A document not seen yet: its parse, limits and validation are the long synchronous work an
    // anonymous client can ask for, done in the line of new documents, within its budget of
    // event-loop time (NewDocumentLineFullError when it would wait too long). It waits there, not in the
    // server's line, whose turns stay for known documents; once admitted, it takes a turn there
    // again to execute (ServerLineFullError when there is none: 503 BUSY too).
    const turn = request?.serverTurn;
    turn?.leave();
    const admitted = this.newDocuments.run(clientOf(request), query.length, () => {
      const entry = this.compile(query);
      if (!entry) return; // a syntax error, reported by parseAndValidate
      entry.errors = this.validate(entry.document);
      this.checkRequest(query, entry, variables, operationName, request?.websocket);
      return entry;
    });
    // A request that hashes a password waits in bcrypt's line instead (hashing-plugin.ts).
    return admitted.then((entry) => (turn && !(entry && hashes(entry.document, operationName)) ? turn.retake() : undefined));
  }

  private checkRequest(
    query: string,
    entry: AdmittedDocument,
    variables: Record<string, unknown>,
    operationName: string | undefined,
    websocket = false,
  ): void {
    const operations = operationName ? entry.operations.filter((o) => o.operation.name?.value === operationName) : entry.operations;
    for (const operation of operations) {
      checkTransport(operation, websocket);
      checkVariables(operation, variables, this.limits);
    }
    this.touch(query, entry);
  }

  /** What the gate knows of a document it admitted (undefined for any other). */
  entryOf(document: DocumentNode): AdmittedDocument | undefined {
    return this.byDocument.get(document);
  }

  /** The compiled operation a request executes (undefined for a document the gate did not admit). */
  operationOf(args: GrafastExecutionArgs): CompiledOperation | undefined {
    const operationName = args.operationName ?? undefined;
    return this.entryOf(args.document)?.operations.find((o) => !operationName || o.operation.name?.value === operationName);
  }

  /** Replaces grafserv's parse-and-validate step (and its cache of every document, refused ones included). */
  readonly parseAndValidate = (query: string): ParseAndValidateResult => {
    if (this.lastSyntaxError?.query === query) return { errors: [this.lastSyntaxError.error] };
    const entry = this.admitted.get(query) ?? this.compile(query);
    if (!entry) return { errors: [this.lastSyntaxError!.error] };
    entry.errors ??= this.validate(entry.document);
    if (entry.errors.length === 0) return { document: entry.document };
    this.forget(query);
    return { errors: entry.errors };
  };

  private validate(document: DocumentNode): readonly GraphQLError[] {
    const errors = validate(this.schema!, document, specifiedRules).map((error) => coded(error, "GRAPHQL_VALIDATION_FAILED"));
    return this.limits.introspection ? errors : errors.map(withoutSuggestion);
  }

  /** Parses (token limit first) and compiles; throws a refusal, or returns undefined on a syntax error. */
  private compile(query: string): AdmittedDocument | undefined {
    let document: DocumentNode;
    try {
      document = parse(new Source(query, "GraphQL request"), { maxTokens: this.limits.maxTokens });
    } catch (error) {
      if (/\d+ tokens\. Parsing aborted/.test((error as Error).message)) {
        refuse("QUERY_TOO_LARGE", `A document may have at most ${this.limits.maxTokens} tokens`);
      }
      this.lastSyntaxError = { query, error: coded(error as GraphQLError, "GRAPHQL_PARSE_FAILED") };
      return undefined;
    }
    const operations = compileDocument(this.schema!, document, this.limits, this.passwordMutations);
    const entry = { document, operations, bytes: query.length * BYTES_PER_CHARACTER, planned: false };
    this.byDocument.set(document, entry);
    return entry;
  }

  /** Kept as the most recently used (a document larger than the whole budget is not kept). */
  private touch(query: string, entry: AdmittedDocument): void {
    this.admitted.set(query, entry);
  }

  private forget(query: string): void {
    this.admitted.delete(query);
  }
}

/** Subscriptions over a WebSocket only; queries and mutations over HTTP only (their lines and limits are HTTP's). */
function checkTransport({ operation }: CompiledOperation, websocket: boolean): void {
  const subscription = operation.operation === OperationTypeNode.SUBSCRIPTION;
  if (subscription && !websocket) {
    refuse("UNSUPPORTED_OPERATION", "Subscriptions are served over a WebSocket at /graphql (graphql-ws protocol)");
  }
  if (!subscription && websocket)
    refuse("UNSUPPORTED_OPERATION", "Over the WebSocket, only subscriptions: send queries and mutations with POST /graphql");
}

/** The request a GraphQL body came with: an HTTP request, or a subscription socket's upgrade (src/live/sockets.ts hands it to graphql-ws as `extra.request`). */
function requestOf(event: ProcessGraphQLRequestBodyEvent): RequestContext | undefined {
  const socket = event.graphqlWsContext?.extra as { request?: IncomingMessage } | undefined;
  return contextOf(event.request?.requestContext) ?? socket?.request?.context;
}

/** The client (address, IPv6 /64) a request is weighed by in the line of new documents. */
const clientOf = (request: RequestContext | undefined): string => request?.client ?? "unknown";

/** Answers to introspection-only operations, by document, operation and variables (GraphiQL and codegen send the same text). */
const INTROSPECTION_ANSWERS = 8;

/**
 * Puts the gate in front of grafserv and grafast:
 * - `processGraphQLRequestBody` admits the document with the request's variables before anything else;
 * - `setPreset` makes grafserv use the gate's parse-and-validate (the documents it admitted);
 * - `execute` plans documents the server has not seen yet in the line of new documents, and
 *   answers introspection-only operations from the schema (graphql-js), in that line too, keeping
 *   the last few answers: an anonymous client cannot make the event loop plan or introspect for
 *   everyone at once. When too much waits: 503 BUSY with Retry-After.
 */
export function documentGatePlugin(gate: DocumentGate, newDocuments: NewDocumentLine, planCacheSize: number): GraphileConfig.Plugin {
  const introspectionAnswers = new LRUCache<string, Buffer>({ max: INTROSPECTION_ANSWERS });
  /** Introspection resolves synchronously, from the schema alone: computed in the line of new documents, kept encoded. */
  const introspect = (args: GrafastExecutionArgs, key: string): Promise<ExecutionResult> | ExecutionResult => {
    const known = introspectionAnswers.get(key);
    // Sent as it is by AnswerStatusPlugin: no JSON work, no garbage, for a repeat.
    if (known && answerWith(args, { body: known })) return { data: null };
    // Refusable like a new document: the same document with new variables is computed anew.
    return newDocuments.run(clientOf(contextOf(args.requestContext)), key.length, () => {
      const { schema, document, operationName, variableValues } = args;
      const result = graphqlExecute({ schema, document, operationName, variableValues }) as ExecutionResult;
      if (!result.errors) {
        introspectionAnswers.set(key, Buffer.from(JSON.stringify(result)));
      }
      // grafserv sends a string `data` as it is (outputDataAsString).
      return { ...result, data: JSON.stringify(result.data) } as unknown as ExecutionResult;
    });
  };
  return {
    name: "StoflowDocumentGatePlugin",
    version: "1.0.0",
    description: "Limits on GraphQL documents before they are parsed into a cache or planned; new documents planned one at a time",
    schema: {
      hooks: {
        finalize(schema) {
          // grafast keeps a plan per operation (500 by default), each holding its document: bounded here.
          const grafast = ((schema.extensions as { grafast?: Record<string, unknown> }).grafast ??= {});
          grafast.operationsCacheMaxLength = planCacheSize;
          gate.useSchema(schema);
          introspectionAnswers.clear(); // a new schema (watch mode) answers introspection anew
          return schema;
        },
      },
    },
    grafast: {
      middleware: {
        execute(next, { args }) {
          const entry = gate.entryOf(args.document);
          if (!entry) return next();
          const operation = gate.operationOf(args);
          const work = operation?.introspectionOnly
            ? introspect(args, introspectionKey(args.document, operation.operation, args.variableValues))
            : entry.planned
              ? next()
              : newDocuments.runAdmitted(clientOf(contextOf(args.requestContext)), () => {
                  const result = next(); // planning is synchronous: it is done when next() returns
                  entry.planned = true;
                  return result;
                });
          return isPromiseLike(work) ? Promise.resolve(work).catch(refusedAsBusy) : work;
        },
      },
    },
    grafserv: {
      middleware: {
        processGraphQLRequestBody(next, event) {
          const { query, variableValues, operationName } = event.body as {
            query?: unknown;
            variableValues?: unknown;
            operationName?: unknown;
          };
          if (typeof query !== "string") return next();
          const variables = variableValues && typeof variableValues === "object" ? (variableValues as Record<string, unknown>) : {};
          const admitted = gate.admit(query, variables, typeof operationName === "string" ? operationName : undefined, requestOf(event));
          return isPromiseLike(admitted) ? Promise.resolve(admitted).then(next, (error) => lineFull(error, requestOf(event))) : next();
        },
        setPreset(next, event) {
          const getExecutionConfig = event.getExecutionConfig;
          event.getExecutionConfig = function (this: unknown, ctx) {
            const config = getExecutionConfig.call(this as never, ctx);
            const gated = (c: ExecutionConfig): ExecutionConfig => ({ ...c, parseAndValidate: gate.parseAndValidate });
            return isPromiseLike(config) ? config.then(gated) : gated(config);
          };
          return next();
        },
      },
    },
  };
}

/**
 * What an introspection answer depends on: the operation's selections, the fragments and the
 * variables, printed (spaces and comments gone). Not the operation's name nor the other operations
 * of its document: renaming `query IntrospectionQuery` finds the answer already computed.
 */
function introspectionKey(document: DocumentNode, operation: OperationDefinitionNode, variables: unknown): string {
  const fragments = document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION);
  const anonymous: OperationDefinitionNode = { ...operation, name: undefined };
  return JSON.stringify([print({ kind: Kind.DOCUMENT, definitions: [anonymous, ...fragments] }), variables ?? {}]);
}

const BUSY_MESSAGE = "The server is busy with new queries; retry in a second";

/**
 * The line of new documents was full when a new document came (before anything else), or the server's line once it
 * was admitted: 503 BUSY with Retry-After (AnswerStatusPlugin).
 */
function lineFull(error: unknown, request: RequestContext | undefined): never {
  if (!(error instanceof NewDocumentLineFullError || error instanceof ServerLineFullError)) throw error;
  const refusal = busy(BUSY_MESSAGE);
  refuseRequest(request, refusal);
  throw new SafeError(refusal.message, { statusCode: refusal.status, code: refusal.code });
}

/** The line of new documents is full: BUSY, answered 503 with Retry-After by AnswerStatusPlugin. */
function refusedAsBusy(error: unknown): ExecutionResult {
  if (!(error instanceof NewDocumentLineFullError)) throw error;
  return { errors: [new GraphQLError(BUSY_MESSAGE, { originalError: busy(BUSY_MESSAGE) })] };
}

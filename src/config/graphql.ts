import { isProduction } from "./env.ts";
import { flag, integer, optional } from "./fields.ts";

/** How much one GraphQL request may ask for (settings: README, "Configuration"). */
export interface DocumentLimits {
  /** Most lexical tokens in a document; the parser stops counting past it. */
  maxTokens: number;
  /** Most field selections once fragments are spread, each time they are (what the planner walks). */
  maxFields: number;
  /** Deepest nesting of fields (introspection fields are bounded by their own rules). */
  maxDepth: number;
  /** Most aliased fields, at every level, fragments counted each time they are spread. */
  maxAliases: number;
  /** Most fields of the Query and Mutation types, wherever they appear (payloads' `query` too). */
  maxRootFields: number;
  /** Largest `first` / `last`. */
  maxPageSize: number;
  /** Rows a list returns when the client gives no `first` / `last` (enforced, see page-size-plugin). */
  defaultPageSize: number;
  /** Largest estimated number of values returned (lists multiply their children). */
  maxCost: number;
  /** Deepest nesting of input objects and lists (literals and variables). */
  maxInputDepth: number;
  /** Whether `__schema` / `__type` may be asked at all. */
  introspection: boolean;
}

/** How the event-loop time spent on documents the server has not seen yet is bounded (GRAPHQL_NEW_DOCUMENT_*). */
export interface NewDocumentBudget {
  /** Milliseconds of event-loop time per second that new documents may take (parse, limits, validation, planning). */
  msPerSecond: number;
  /** Longest a new document may expect to wait for its turn at that pace; beyond, refused. */
  maxWaitMs: number;
}

/** What one GraphQL request may ask for, and how much memory documents may hold. */
export interface GraphqlConfig extends DocumentLimits {
  /** Largest request body on /graphql, in bytes. */
  maxBodyBytes: number;
  /** Memory the cache of admitted documents may hold, in bytes. */
  documentCacheBytes: number;
  /** Plans grafast keeps (one per operation; a plan holds its document). */
  planCacheSize: number;
  /** Event-loop time per second for never-seen documents (parse, limits, validation, planning, introspection), and their longest wait; beyond, 503 BUSY. */
  newDocuments: NewDocumentBudget;
  /**
   * Trusted documents: a JSON file of `{ "<hash>": "<document>" }` (GraphQL Codegen's
   * persisted-documents.json, Relay's persisted queries) or a folder of `<hash>.graphql` files.
   * When set, only these documents run, requested by hash.
   */
  trustedDocuments: string | undefined;
  exports: ExportConfig;
  /**
   * PostGraphile's watch mode: the schema is rebuilt when the database's DDL changes (a saved
   * current.sql shows in /graphiql without a restart). Development only by default.
   */
  watch: boolean;
}

export function readGraphqlConfig(env: NodeJS.ProcessEnv, queryTimeoutSeconds: number): GraphqlConfig {
  const maxPageSize = integer(env, "GRAPHQL_MAX_PAGE_SIZE", 100, 1, 10_000);
  const production = isProduction(env);
  return {
    maxBodyBytes: integer(env, "GRAPHQL_MAX_BODY_BYTES", 100_000, 1_000, 10_000_000),
    maxTokens: integer(env, "GRAPHQL_MAX_TOKENS", 2_000, 100, 100_000),
    maxFields: integer(env, "GRAPHQL_MAX_FIELDS", 2_000, 10, 1_000_000),
    maxDepth: integer(env, "GRAPHQL_MAX_DEPTH", 12, 2, 100),
    maxAliases: integer(env, "GRAPHQL_MAX_ALIASES", 30, 0, 10_000),
    maxRootFields: integer(env, "GRAPHQL_MAX_ROOT_FIELDS", 20, 1, 1_000),
    maxPageSize,
    defaultPageSize: integer(env, "GRAPHQL_DEFAULT_PAGE_SIZE", Math.min(100, maxPageSize), 1, maxPageSize),
    maxCost: integer(env, "GRAPHQL_MAX_COST", 50_000, 1, 100_000_000),
    maxInputDepth: integer(env, "GRAPHQL_MAX_INPUT_DEPTH", 16, 2, 100),
    introspection: flag(env, "GRAPHQL_INTROSPECTION", !production),
    documentCacheBytes: integer(env, "GRAPHQL_DOCUMENT_CACHE_MB", 32, 1, 4_096) * 1024 * 1024,
    planCacheSize: integer(env, "GRAPHQL_PLAN_CACHE_SIZE", 100, 1, 100_000),
    newDocuments: {
      msPerSecond: integer(env, "GRAPHQL_NEW_DOCUMENT_MS", 200, 10, 1_000),
      maxWaitMs: integer(env, "GRAPHQL_NEW_DOCUMENT_WAIT_MS", 2_000, 0, 60_000),
    },
    trustedDocuments: optional(env, "GRAPHQL_TRUSTED_DOCUMENTS"),
    exports: readExportConfig(env, queryTimeoutSeconds),
    watch: flag(env, "GRAPHQL_WATCH", !production),
  };
}

/** How tenant exports (`exportTenantData`, one JSON document of a whole tenant) are bounded. */
export interface ExportConfig {
  /** Exports built at once, server-wide (each holds a connection and its document in memory). */
  concurrency: number;
  /** Exports waiting for a turn; beyond, 503 BUSY. One per tenant at a time, running or waiting. */
  queue: number;
  /** Largest export, as JSON text of the tenant's rows; beyond, EXPORT_TOO_LARGE. 0: no bound. */
  maxBytes: number;
  /** Seconds an export may take in PostgreSQL (below DATABASE_QUERY_TIMEOUT); beyond, EXPORT_TOO_LARGE. */
  timeoutSeconds: number;
}

/**
 * The export's time limit defaults to two thirds of the query timeout (20 s of 30): PostgreSQL
 * ends a slow export (EXPORT_TOO_LARGE) before the client-side timeout would report an outage.
 */
function readExportConfig(env: NodeJS.ProcessEnv, queryTimeoutSeconds: number): ExportConfig {
  const timeoutFallback = queryTimeoutSeconds > 0 ? Math.max(1, Math.floor((queryTimeoutSeconds * 2) / 3)) : 20;
  return {
    concurrency: integer(env, "EXPORT_CONCURRENCY", 1, 1, 1_000),
    queue: integer(env, "EXPORT_QUEUE", 4, 0, 100_000),
    maxBytes: integer(env, "EXPORT_MAX_BYTES", 50_000_000, 0, 200_000_000),
    timeoutSeconds: integer(env, "EXPORT_TIMEOUT", timeoutFallback, 1, 86_400),
  };
}

import { PgAggregatesPreset } from "@graphile/pg-aggregates";
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import type pg from "pg";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";
import type { AuthService } from "../auth/auth-service.ts";
import { ConstraintMessages } from "../db/constraint-messages.ts";
import { TenantPool } from "../db/tenant-pool.ts";
import { authPlugin, PASSWORD_MUTATIONS } from "./auth-plugin.ts";
import { GRAPHQL_PATH, pgSettingsFor, pgSettingsOf } from "./context.ts";
import { contextOf } from "../http/request-context.ts";
import type { Logger } from "pino";
import { createLogger } from "../logger.ts";
import { maskErrorWith } from "./errors.ts";
import { NoSchemaPrefixPlugin } from "./inflection.ts";
import { NotFoundPlugin } from "./not-found-plugin.ts";
import { BoundedNodeIdPlugin } from "./node-id-plugin.ts";
import { HashingPlugin } from "./hashing-plugin.ts";
import { DescriptionsPlugin } from "./descriptions-plugin.ts";
import { BadValuePlugin } from "./bad-value-plugin.ts";
import type { GraphqlConfig } from "../config/graphql.ts";
import { DocumentGate, documentGatePlugin } from "./document-gate.ts";
import { exportLinePlugin } from "./export-line.ts";
import { mutationTransactionPlugin } from "./mutation-transaction.ts";
import { rootOf } from "./operation-root.ts";
import type { SessionLiveness } from "../auth/session-liveness.ts";
import { pageSizePlugin } from "./page-size-plugin.ts";
import { NewDocumentLine } from "../admission/new-document-line.ts";
import { ValueWeightPlugin } from "./value-weight-plugin.ts";
import { constraintMessagesPlugin } from "./constraint-messages-plugin.ts";
import { AnswerStatusPlugin } from "./answer-status.ts";
import { ErrorCodesPlugin } from "./error-codes.ts";
import { trustedDocumentsPreset } from "./trusted-documents.ts";
import type {} from "postgraphile/grafserv/node";
import type { GrafastSubscriber } from "postgraphile/grafast";
import type { WithPgClient } from "postgraphile/@dataplan/pg";
import type { NodePostgresPgClient } from "postgraphile/adaptors/pg";
import type { LiveHub } from "../live/hub.ts";
import { livePlugin } from "./live-plugin.ts";
import type { BillingFlows } from "../billing/flows.ts";
import { billingPlugin } from "./billing-plugin.ts";

/**
 * One GraphQL schema for every tenant, built once from `public` and the empty `tenant_template`.
 * Identifiers are emitted unqualified, so each request's search_path (client_<id>, public) picks
 * its tenant's tables. Introspection runs as stoflow_authenticator, so the API offers exactly what
 * the API roles are granted.
 */
export function makePreset(
  pool: pg.Pool,
  auth: AuthService,
  graphql: GraphqlConfig,
  {
    explorer = true,
    logger = createLogger(),
    guards = graphqlGuards(graphql),
    messages = new ConstraintMessages(pool),
    schemaWatch,
    live,
    deliveries,
    billing,
    liveness,
  }: PresetOptions,
): GraphileConfig.Preset {
  return {
    extends: [
      PostGraphileAmberPreset,
      PgSimplifyInflectionPreset,
      PgAggregatesPreset,
      PostGraphileConnectionFilterPreset,
      // Before the gate: it swaps the hash for the trusted document, which the gate then measures.
      ...(graphql.trustedDocuments ? [trustedDocumentsPreset(graphql.trustedDocuments)] : []),
    ],
    plugins: [
      // First: its execute middleware is the outermost, so it rules on every error of the result (the gate's and the export line's too).
      AnswerStatusPlugin,
      NoSchemaPrefixPlugin,
      authPlugin(auth),
      billingPlugin(billing),
      documentGatePlugin(guards.gate, guards.newDocuments, graphql.planCacheSize),
      exportLinePlugin(guards.gate, graphql.exports),
      // Outside the mutation transaction: its lookups take a connection of their own once the
      // transaction gave its connection back. Inside, a crowd of refused writes held every
      // connection of the pool, each waiting for a second one: the whole API stalled.
      constraintMessagesPlugin(messages),
      // Inside the lines above: a request holds its transaction's connection only once it may execute.
      mutationTransactionPlugin(pool, liveness),
      pageSizePlugin(graphql.defaultPageSize),
      ValueWeightPlugin,
      ErrorCodesPlugin,
      NotFoundPlugin,
      DescriptionsPlugin,
      BadValuePlugin,
      BoundedNodeIdPlugin,
      HashingPlugin,
      livePlugin(live),
    ],
    // Filter and order by any column, not only indexed ones: a tenant's tables are small, and
    // sellers filter by price, brand or category. Node ids are decoded by BoundedNodeIdPlugin.
    disablePlugins: ["PgIndexBehaviorsPlugin", "NodeIdCodecBase64JSONPlugin"],
    pgServices: [makePgService({ pool, schemas: ["public", "tenant_template"], ...(schemaWatch ? { pgSubscriber: schemaWatch } : {}) })],
    // The watch fixtures need a superuser: installed by `npm start` and `npm run db -- rebuild` (src/db/watch-fixtures.ts).
    gather: { pgIdentifiers: "unqualified", installWatchFixtures: false },
    schema: {
      // A list's rows are never null (no set-returning function here yields a null row): clients
      // get `nodes: [Product!]!`, not a list of maybe-products.
      pgForbidSetofFunctionsToReturnNull: true,
      connectionFilterAllowNullInput: false,
      connectionFilterAllowEmptyObjectInput: false,
    },
    grafast: {
      explain: false,
      context(requestContext, args) {
        // What the steps of /graphql found (src/http/pipeline.ts): the verified session, the client address.
        const request = contextOf(requestContext);
        const session = request?.session;
        const operation = rootOf(args.document, args.operationName)?.type;
        const pgSettings = pgSettingsOf(operation, pgSettingsFor(session, billing.sqlSettings));
        const context = { session, clientIp: request?.clientIp ?? "unknown", pgSettings };
        // A subscription's deliveries read on their own connections (LIVE_POOL_SIZE); a request on its tenant's group of the pool.
        if (request?.websocket && deliveries) return { ...context, withPgClient: deliveries };
        return pool instanceof TenantPool ? { ...context, withPgClient: pool.withPgClient } : context;
      },
    },
    grafserv: {
      graphqlPath: GRAPHQL_PATH,
      graphiql: explorer,
      graphiqlPath: "/graphiql",
      graphiqlOnGraphQLGET: false,
      // Subscriptions over graphql-ws at /graphql (the upgrade is src/live/sockets.ts's); Ruru offers them.
      websockets: true,
      // Development: the schema follows the database (PostGraphile's watch mode, through schemaWatch); production builds it once.
      watch: Boolean(schemaWatch),
      maxRequestLength: graphql.maxBodyBytes,
      // grafast writes `data` as JSON text directly (faster), and cached introspection answers are kept as text.
      outputDataAsString: true,
      maskError: maskErrorWith(logger, messages, !graphql.introspection),
    },
  };
}

interface PresetOptions {
  explorer?: boolean;
  logger?: Logger;
  guards?: GraphqlGuards;
  /** What a constraint violation tells the client (see src/db/constraint-messages.ts). */
  messages?: ConstraintMessages;
  /** In watch mode, where PostGraphile hears of DDL (src/graphql/schema-watch.ts); without, the schema is built once. */
  schemaWatch?: GrafastSubscriber<Record<string, string>> | undefined;
  /** Where subscriptions get their events (src/live/hub.ts). */
  live: LiveHub;
  /** The connections subscriptions' deliveries read on (LIVE_POOL_SIZE); without, the request pool's. */
  deliveries?: WithPgClient<NodePostgresPgClient>;
  /** createCheckoutSession, and the billing settings SQL reads in a session's transactions (src/billing/flows.ts). */
  billing: BillingFlows;
  /** Sessions known to be live, opened without the SQL check (src/auth/session-liveness.ts); without, every transaction checks. */
  liveness?: SessionLiveness;
}

/** The gate every GraphQL document passes, and the line new documents are parsed and planned in (see document-gate.ts). */
export interface GraphqlGuards {
  gate: DocumentGate;
  newDocuments: NewDocumentLine;
}

export function graphqlGuards(graphql: GraphqlConfig): GraphqlGuards {
  const newDocuments = new NewDocumentLine(graphql.newDocuments);
  return { gate: new DocumentGate(graphql, PASSWORD_MUTATIONS, graphql.documentCacheBytes, newDocuments), newDocuments };
}

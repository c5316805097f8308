import { PgAggregatesPreset } from "@graphile/pg-aggregates";
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import type pg from "pg";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";
import type { AuthService } from "../auth/service.ts";
import { authPlugin } from "./auth-plugin.ts";
import { pgSettingsFor } from "../auth/pg-settings.ts";
import { sessionOf } from "../http/bearer.ts";
import type { Logger } from "pino";
import { createLogger } from "../http/logging.ts";
import { maskErrorWith } from "./errors.ts";
import { NoSchemaPrefixPlugin } from "./inflection.ts";
import { queryLimitsPlugin } from "./limits.ts";
import { DatabaseUnavailablePlugin } from "./unavailable.ts";
import type {} from "postgraphile/grafserv/express/v4";

/**
 * One GraphQL schema for every tenant, built once from `public` and the empty `tenant_template`.
 * Identifiers are emitted unqualified, so each request's search_path (client_<id>, public) picks
 * its tenant's tables. Introspection runs as stoflow_authenticator, so the API offers exactly what
 * the API roles are granted.
 */
export function makePreset(
  pool: pg.Pool, auth: AuthService, { explorer = true, logger = createLogger() }: { explorer?: boolean; logger?: Logger } = {},
): GraphileConfig.Preset {
  return {
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset, PgAggregatesPreset, PostGraphileConnectionFilterPreset],
    plugins: [NoSchemaPrefixPlugin, authPlugin(auth), queryLimitsPlugin(), DatabaseUnavailablePlugin],
    // Filter and order by any column, not only indexed ones: a tenant's tables are small, and
    // sellers filter by price, brand or category.
    disablePlugins: ["PgIndexBehaviorsPlugin"],
    pgServices: [makePgService({ pool, schemas: ["public", "tenant_template"] })],
    gather: { pgIdentifiers: "unqualified" },
    schema: {
      connectionFilterAllowNullInput: false,
      connectionFilterAllowEmptyObjectInput: false,
    },
    grafast: {
      explain: false,
      context(requestContext) {
        const res = requestContext.expressv4?.res;
        const session = res ? sessionOf(res) : undefined;
        return { session, clientIp: requestContext.expressv4?.req.ip ?? "unknown", pgSettings: pgSettingsFor(session) };
      },
    },
    grafserv: {
      graphqlPath: "/graphql",
      graphiql: explorer,
      graphiqlPath: "/graphiql",
      graphiqlOnGraphQLGET: false,
      watch: false,
      maxRequestLength: 100_000,
      maskError: maskErrorWith(logger),
    },
  };
}

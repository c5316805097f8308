/**
 * The roles, written once for the server and the tests. SQL holds the same names in
 * `public.user_role` and the `stoflow_*` roles; test/sql/roles.test.ts fails when they disagree.
 */

/** What a tenant's user may do: the values of `public.user_role`, the JWT's `role` claim. */
export const APP_ROLES = ["admin", "user", "viewer"] as const;
export type AppRole = (typeof APP_ROLES)[number];

/** The PostgreSQL role a request of each app role runs as (its grants and policies decide). */
export const PG_ROLE_OF = { admin: "stoflow_admin", user: "stoflow_user", viewer: "stoflow_viewer" } as const satisfies Record<
  AppRole,
  string
>;

/** The PostgreSQL role of a request without a session. */
export const ANONYMOUS_PG_ROLE = "stoflow_anonymous" as const;

/** The PostgreSQL role the auth service works as (it reaches app_private only through functions). */
export const AUTH_PG_ROLE = "stoflow_auth" as const;

/** The roles an API request may run as. */
export type ApiPgRole = typeof ANONYMOUS_PG_ROLE | (typeof PG_ROLE_OF)[AppRole];
export const API_PG_ROLES: readonly ApiPgRole[] = [ANONYMOUS_PG_ROLE, ...APP_ROLES.map((role) => PG_ROLE_OF[role])];

/** "admin, user or viewer": the roles in words, for messages. */
export const APP_ROLES_IN_WORDS = `${APP_ROLES.slice(0, -1).join(", ")} or ${APP_ROLES.at(-1)}`;

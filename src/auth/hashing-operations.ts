/**
 * The operations that hash a password, as REST routes and as GraphQL mutations: one list. They
 * wait in bcrypt's own line (BCRYPT_CONCURRENCY running, BCRYPT_QUEUE_LIMIT waiting, 503 BUSY at
 * once beyond), not in the server's: a crowd of sign-ins then never stands in front of other
 * requests. The REST routes skip the server's line; a GraphQL request leaves it once its
 * document is known to carry one of these mutations (src/graphql/hashing-plugin.ts).
 */
export const HASHING_OPERATIONS: ReadonlyArray<{ route?: string; mutation: string }> = [
  { route: "/api/auth/register", mutation: "register" },
  { route: "/api/auth/login", mutation: "login" },
  { route: "/api/auth/change-password", mutation: "changePassword" },
  { route: "/api/auth/reset-password", mutation: "resetPassword" },
  { route: "/api/auth/accept-invitation", mutation: "acceptInvitation" },
  { route: "/api/auth/change-email", mutation: "requestEmailChange" },
  { route: "/api/auth/confirm-password", mutation: "confirmPassword" },
];

export const HASHING_ROUTES: ReadonlySet<string> = new Set(HASHING_OPERATIONS.flatMap(({ route }) => (route ? [route] : [])));
export const HASHING_MUTATIONS: ReadonlySet<string> = new Set(HASHING_OPERATIONS.map(({ mutation }) => mutation));

import { access, context, sideEffect, type FieldArgs, type Step } from "postgraphile/grafast";
import { extendSchema, gql } from "postgraphile/utils";
import { notAuthenticated } from "../auth/errors.ts";
import type { AuthResponse, AuthService, SessionView } from "../auth/service.ts";
import type { SessionClaims } from "../auth/tokens.ts";

const typeDefs = gql`
  input RegisterInput {
    name: String!
    email: String!
    password: String!
    "starter (default), standard, premium, business or enterprise"
    subscriptionTier: String
  }
  input LoginInput { email: String!, password: String! }
  input RefreshTokenInput { refreshToken: String! }
  input ChangePasswordInput { currentPassword: String!, newPassword: String! }

  "The signed-in user, as the REST session route returns it."
  type SessionUser { id: Int!, email: String!, fullName: String, role: String! }
  "The tenant of the signed-in user."
  type SessionTenant { id: Int!, name: String!, subscriptionTier: String!, schemaName: String! }
  type CurrentSession { user: SessionUser!, tenant: SessionTenant! }
  "Tokens for a new or refreshed session: send accessToken as 'Authorization: Bearer …'."
  type AuthPayload {
    accessToken: String!
    tokenType: String!
    "Seconds until the access token expires."
    expiresIn: Int!
    "Single use: exchange it with refreshToken for a new pair."
    refreshToken: String!
    user: SessionUser!
    tenant: SessionTenant!
  }
  type SuccessPayload { success: Boolean! }
  input AddTeamMemberInput {
    email: String!
    fullName: String
    "admin, user (default) or viewer"
    role: String
    "The first password; the new member signs in with it."
    password: String!
  }
  type AddTeamMemberPayload { user: User }

  extend type Query {
    "The signed-in user and tenant; null for anonymous requests."
    currentSession: CurrentSession
  }
  extend type Mutation {
    "Creates a tenant with its schema and admin user, and signs the admin in."
    register(input: RegisterInput!): AuthPayload
    "Signs in. Repeated failures are throttled (TOO_MANY_ATTEMPTS)."
    login(input: LoginInput!): AuthPayload
    "Exchanges a refresh token for a new pair; reusing a used token revokes the session."
    refreshToken(input: RefreshTokenInput!): AuthPayload
    "Ends the current session: its access and refresh tokens stop working."
    logout: SuccessPayload
    "Changes the password and ends every other session of the user."
    changePassword(input: ChangePasswordInput!): SuccessPayload
    "Adds a user to the signed-in admin's tenant (admins only)."
    addTeamMember(input: AddTeamMemberInput!): AddTeamMemberPayload
  }
`;

/** The mutations that hash or check a password: at most one per request (see document-limits.ts). */
export const PASSWORD_MUTATIONS: ReadonlySet<string> = new Set(["register", "login", "changePassword", "addTeamMember"]);

/**
 * register, login, refreshToken, logout, changePassword, addTeamMember and currentSession over
 * the auth service (the same code as the REST routes).
 */
export function authPlugin(auth: AuthService) {
  const signedIn = (session: SessionClaims | undefined) => session ?? Promise.reject(notAuthenticated());
  return extendSchema((build) => ({
    typeDefs,
    plans: {
      Query: {
        currentSession() {
          return sideEffect(context().get("session"), async (session) =>
            session ? viewToGraphQL(await auth.session(session)) : null);
        },
      },
      Mutation: {
        register(_: unknown, args: FieldArgs) {
          return sideEffect([inputOf(args), context().get("clientIp")], async ([input, ip]) =>
            responseToGraphQL(await auth.register({ ...input, subscription_tier: input.subscriptionTier }, ip)));
        },
        login(_: unknown, args: FieldArgs) {
          return sideEffect([inputOf(args), context().get("clientIp")], async ([input, ip]) =>
            responseToGraphQL(await auth.login(input, ip)));
        },
        refreshToken(_: unknown, args: FieldArgs) {
          return sideEffect(inputOf(args), async (input) =>
            responseToGraphQL(await auth.refresh({ refresh_token: input.refreshToken })));
        },
        logout() {
          return sideEffect(context().get("session"), async (session) => {
            await auth.logout(await signedIn(session));
            return { success: true };
          });
        },
        changePassword(_: unknown, args: FieldArgs) {
          return sideEffect([context().get("session"), inputOf(args)], async ([session, input]) => {
            const { currentPassword, newPassword } = input;
            await auth.changePassword(await signedIn(session), { current_password: currentPassword, new_password: newPassword });
            return { success: true };
          });
        },
        addTeamMember(_: unknown, args: FieldArgs) {
          return sideEffect([context().get("session"), inputOf(args)], async ([session, input]) =>
            auth.addTeamMember(await signedIn(session), { ...input, full_name: input.fullName }));
        },
      },
      AddTeamMemberPayload: {
        user($payload: Step) {
          return build.input.pgRegistry.pgResources.users!.get({ id: access($payload, "id") });
        },
      },
    },
  }));
}

const inputOf = (args: FieldArgs) => args.getRaw("input") as Step<Record<string, unknown>>;

function viewToGraphQL(view: SessionView) {
  return {
    user: { id: view.user.id, email: view.user.email, fullName: view.user.full_name, role: view.user.role },
    tenant: {
      id: view.tenant.id, name: view.tenant.name,
      subscriptionTier: view.tenant.subscription_tier, schemaName: view.tenant.schema_name,
    },
  };
}

function responseToGraphQL(response: AuthResponse) {
  return {
    accessToken: response.access_token,
    tokenType: response.token_type,
    expiresIn: response.expires_in,
    refreshToken: response.refresh_token,
    ...viewToGraphQL(response),
  };
}

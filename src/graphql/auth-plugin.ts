import { access, context, sideEffect, type FieldArgs, type Step } from "postgraphile/grafast";
import { Kind } from "postgraphile/graphql";
import { extendSchema, gql } from "postgraphile/utils";
import { notAuthenticated } from "../errors.ts";
import type { AuthResponse, AuthService, SessionView } from "../auth/auth-service.ts";
import type { SessionClaims } from "../auth/tokens.ts";
import { BILLING_MUTATIONS } from "./billing-plugin.ts";

const typeDefs = gql`
  "What a new seller sends to open a shop: the tenant and its first admin."
  input RegisterInput {
    "The shop's name (the tenant), also its admin's full name."
    name: String!
    "The admin's e-mail address, used to sign in."
    email: String!
    "8 characters at least, 72 bytes (UTF-8) at most."
    password: String!
    "starter (default), standard, premium, business or enterprise"
    subscriptionTier: String
  }
  "What a user sends to sign in."
  input LoginInput {
    "The e-mail address the account was registered with (any case)."
    email: String!
    "The account's password."
    password: String!
  }
  "The refresh token to exchange."
  input RefreshTokenInput {
    "The refresh token of the last pair (single use)."
    refreshToken: String!
  }
  "A password change of the signed-in user."
  input ChangePasswordInput {
    "The password in use now."
    currentPassword: String!
    "The new password: 8 characters at least, 72 bytes (UTF-8) at most."
    newPassword: String!
  }

  "The signed-in user, as the REST session route returns it."
  type SessionUser {
    "The user's numeric id: the rowId of the User type (the REST routes call it id)."
    rowId: Int!
    "The e-mail address the user signs in with."
    email: String!
    "The user's name, when given."
    fullName: String
    "What the user may do in the tenant."
    role: UserRole!
    "Whether the address was verified through the link of a message (resendVerificationEmail sends it again)."
    emailVerified: Boolean!
  }
  "The tenant of the signed-in user."
  type SessionTenant {
    "The tenant's numeric id: the rowId of the Tenant type (the REST routes call it id)."
    rowId: Int!
    "The shop's name."
    name: String!
    "The tier the tenant subscribes to, which sets its limits."
    subscriptionTier: String!
    "The PostgreSQL schema that holds the tenant's tables (client_<id>)."
    schemaName: String!
  }
  "Who is signed in: the user and their tenant."
  type CurrentSession {
    "The signed-in user."
    user: SessionUser!
    "The signed-in user's tenant."
    tenant: SessionTenant!
  }
  "Tokens for a new or refreshed session: send accessToken as 'Authorization: Bearer …'."
  type AuthPayload {
    "The access token (a JWT): send it as 'Authorization: Bearer …'."
    accessToken: String!
    "Always 'bearer'."
    tokenType: String!
    "Seconds until the access token expires."
    expiresIn: Int!
    "Single use: exchange it with refreshToken for a new pair."
    refreshToken: String!
    "The signed-in user."
    user: SessionUser!
    "The signed-in user's tenant."
    tenant: SessionTenant!
  }
  "The token of an e-mailed link (its token parameter)."
  input EmailTokenInput {
    "The token the link carried."
    token: String!
  }
  "A new password, with the token of a reset message."
  input ResetPasswordInput {
    "The token the link carried."
    token: String!
    "The new password: 8 characters at least, 72 bytes (UTF-8) at most."
    newPassword: String!
  }
  "An invitation into the signed-in admin's tenant."
  input InviteTeamMemberInput {
    "The invitee's e-mail address: the invitation goes there, and they sign in with it."
    email: String!
    "The invitee's name."
    fullName: String
    "What the invitee may do (user when absent)."
    role: UserRole
  }
  "The invitee's first password, with the token of the invitation."
  input AcceptInvitationInput {
    "The token the link carried."
    token: String!
    "8 characters at least, 72 bytes (UTF-8) at most."
    password: String!
  }
  "A new address for the signed-in user."
  input RequestEmailChangeInput {
    "The new address: a confirmation link goes there (and another to the current address)."
    newEmail: String!
    "The password in use now: a change of address asks for it again."
    currentPassword: String!
  }
  "What confirming one side of a change of address did."
  type ConfirmEmailChangePayload {
    "Always true: a failure is an error."
    success: Boolean!
    "True when this was the second confirmation: the address changed, and every session of the user ended."
    changed: Boolean!
  }
  "A pending invitation of the signed-in admin's tenant."
  input InvitationIdInput {
    "The invitation's rowId."
    rowId: Int!
  }
  "The answer of inviteTeamMember and resendInvitation."
  type InvitationPayload {
    "The pending invitation (the same answer whether or not its address has an account)."
    invitation: Invitation
  }
  "An address to send an account message to."
  input MailRequestInput {
    "The address of the account."
    email: String!
  }
  "The answer of a mutation that returns nothing else."
  type SuccessPayload {
    "Always true: a failure is an error."
    success: Boolean!
  }
  "The signed-in user's password, confirmed again before sensitive changes."
  input ConfirmPasswordInput {
    "The password in use now."
    password: String!
  }
  "What confirming the password opened."
  type ConfirmPasswordPayload {
    "Until when this session may make sensitive changes (REAUTHENTICATION_TTL after now)."
    reauthenticatedUntil: Datetime!
  }

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
    "Verifies the address with the token of a verification message (TOKEN_INVALID, TOKEN_USED, TOKEN_EXPIRED)."
    verifyEmail(input: EmailTokenInput!): SuccessPayload
    "Sends the verification message again if an unverified account has this address; the same answer either way."
    resendVerificationEmail(input: MailRequestInput!): SuccessPayload
    "Mails a password-reset link if an account has this address; the same answer either way."
    forgotPassword(input: MailRequestInput!): SuccessPayload
    "Sets a new password with the token of a reset message, and ends every session of the user."
    resetPassword(input: ResetPasswordInput!): SuccessPayload
    "Invites an address into the signed-in admin's tenant (admins only; throttled per admin and per tenant): a link lets the invitee choose their password and become a user. The same answer whether or not the address has an account (which is mailed nothing)."
    inviteTeamMember(input: InviteTeamMemberInput!): InvitationPayload
    "Sends a pending invitation again (admins only; throttled like an invitation): it now expires INVITATION_TTL from now and hangs on the caller's credentials."
    resendInvitation(input: InvitationIdInput!): InvitationPayload
    "Revokes a pending invitation (admins only): its link stops working."
    revokeInvitation(input: InvitationIdInput!): SuccessPayload
    "The invitee chooses their password with the invitation's token, and is signed in."
    acceptInvitation(input: AcceptInvitationInput!): AuthPayload
    "Asks, with the current password, to move the signed-in user to a new address: it changes once the links mailed to both the new and the current address are followed."
    requestEmailChange(input: RequestEmailChangeInput!): SuccessPayload
    "Confirms one side of a change of address with the token of its message; the second confirmation changes the address and ends every session."
    confirmEmailChange(input: EmailTokenInput!): ConfirmEmailChangePayload
    "This was not me: with the token of the message to the old address, cancels the change of address and ends every session of the user."
    cancelEmailChange(input: EmailTokenInput!): SuccessPayload
    "Confirms the password again (sudo mode): for REAUTHENTICATION_TTL this session may make sensitive changes (grant or take the admin role, deactivate or delete an admin, invite an admin, delete the tenant), which are refused with REAUTHENTICATION_REQUIRED otherwise. Throttled with changePassword (TOO_MANY_ATTEMPTS)."
    confirmPassword(input: ConfirmPasswordInput!): ConfirmPasswordPayload
  }
`;

/**
 * The Mutation fields of this plugin (and billing-plugin.ts's). They run over the auth service (or the billing flows), on its own connections and
 * transactions (as their REST twins), never in the request's transaction (mutation-transaction.ts).
 */
export const SERVICE_MUTATIONS: ReadonlySet<string> = new Set([
  ...typeDefs.definitions
    .flatMap((d) => (d.kind === Kind.OBJECT_TYPE_EXTENSION && d.name.value === "Mutation" ? (d.fields ?? []) : []))
    .map((field) => field.name.value),
  ...BILLING_MUTATIONS,
]);

/**
 * The mutations that hash or check a password, use an e-mailed token, send mail or call the payment
 * provider: at most one per request (see document-limits.ts).
 */
export const PASSWORD_MUTATIONS: ReadonlySet<string> = new Set([
  "register",
  "login",
  "changePassword",
  "confirmPassword",
  "verifyEmail",
  "resendVerificationEmail",
  "forgotPassword",
  "resetPassword",
  "inviteTeamMember",
  "resendInvitation",
  "acceptInvitation",
  "requestEmailChange",
  "confirmEmailChange",
  "cancelEmailChange",
  ...BILLING_MUTATIONS,
]);

/**
 * register, login, refreshToken, logout, changePassword, confirmPassword, the flows of e-mailed
 * links and currentSession over the auth service (the same code as the REST routes).
 */
export function authPlugin(auth: AuthService) {
  const signedIn = (session: SessionClaims | undefined) => session ?? Promise.reject(notAuthenticated());
  /** A mutation of a signed-in user with its input. */
  const signedInFlow = <T>(args: FieldArgs, flow: (session: SessionClaims, input: Record<string, unknown>) => Promise<T>) =>
    sideEffect([context().get("session"), inputOf(args)], async ([session, input]) => flow(await signedIn(session), input));
  return extendSchema((build) => ({
    typeDefs,
    plans: {
      Query: {
        currentSession() {
          return sideEffect(context().get("session"), async (session) => (session ? viewToGraphQL(await auth.session(session)) : null));
        },
      },
      Mutation: {
        register(_: unknown, args: FieldArgs) {
          return sideEffect([inputOf(args), context().get("clientIp")], async ([input, ip]) =>
            responseToGraphQL(await auth.register({ ...input, subscription_tier: input.subscriptionTier }, ip)),
          );
        },
        login(_: unknown, args: FieldArgs) {
          return sideEffect([inputOf(args), context().get("clientIp")], async ([input, ip]) =>
            responseToGraphQL(await auth.login(input, ip)),
          );
        },
        refreshToken(_: unknown, args: FieldArgs) {
          return sideEffect(inputOf(args), async (input) => responseToGraphQL(await auth.refresh({ refresh_token: input.refreshToken })));
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
        verifyEmail(_: unknown, args: FieldArgs) {
          return anonymous(args, (input, ip) => auth.verifyEmail(input, ip));
        },
        resendVerificationEmail(_: unknown, args: FieldArgs) {
          return anonymous(args, (input, ip) => auth.resendVerification(input, ip));
        },
        forgotPassword(_: unknown, args: FieldArgs) {
          return anonymous(args, (input, ip) => auth.forgotPassword(input, ip));
        },
        resetPassword(_: unknown, args: FieldArgs) {
          return anonymous(args, (input, ip) => auth.resetPassword({ token: input.token, new_password: input.newPassword }, ip));
        },
        inviteTeamMember(_: unknown, args: FieldArgs) {
          return signedInFlow(args, (session, input) => auth.invitations.invite(session, { ...input, full_name: input.fullName }));
        },
        resendInvitation(_: unknown, args: FieldArgs) {
          return signedInFlow(args, (session, input) => auth.invitations.resend(session, { id: input.rowId }));
        },
        revokeInvitation(_: unknown, args: FieldArgs) {
          return signedInFlow(args, async (session, input) => {
            await auth.invitations.revoke(session, { id: input.rowId });
            return { success: true };
          });
        },
        acceptInvitation(_: unknown, args: FieldArgs) {
          return sideEffect([inputOf(args), context().get("clientIp")], async ([input, ip]) =>
            responseToGraphQL(await auth.acceptInvitation(input, ip)),
          );
        },
        requestEmailChange(_: unknown, args: FieldArgs) {
          return sideEffect([context().get("session"), inputOf(args), context().get("clientIp")], async ([session, input, ip]) => {
            await auth.requestEmailChange(
              await signedIn(session),
              { new_email: input.newEmail, current_password: input.currentPassword },
              ip,
            );
            return { success: true };
          });
        },
        confirmEmailChange(_: unknown, args: FieldArgs) {
          return sideEffect([inputOf(args), context().get("clientIp")], async ([input, ip]) => ({
            success: true,
            changed: (await auth.confirmEmailChange(input, ip)).changed,
          }));
        },
        cancelEmailChange(_: unknown, args: FieldArgs) {
          return anonymous(args, (input, ip) => auth.cancelEmailChange(input, ip));
        },
        confirmPassword(_: unknown, args: FieldArgs) {
          return signedInFlow(args, async (session, input) => ({
            reauthenticatedUntil: (await auth.confirmPassword(session, input)).reauthenticated_until,
          }));
        },
      },
      InvitationPayload: {
        invitation($payload: Step) {
          return build.input.pgRegistry.pgResources.invitations.get({ id: access($payload, "id") });
        },
      },
    },
  }));
}

const inputOf = (args: FieldArgs) => args.getRaw("input") as Step<Record<string, unknown>>;

/** A mutation anyone may call with its input and client address, answering success. */
function anonymous(args: FieldArgs, flow: (input: Record<string, unknown>, clientIp: string) => Promise<void>) {
  return sideEffect([inputOf(args), context().get("clientIp")], async ([input, ip]) => {
    await flow(input, ip);
    return { success: true };
  });
}

function viewToGraphQL(view: SessionView) {
  return {
    user: {
      rowId: view.user.id,
      email: view.user.email,
      fullName: view.user.full_name,
      role: view.user.role,
      emailVerified: view.user.email_verified,
    },
    tenant: {
      rowId: view.tenant.id,
      name: view.tenant.name,
      subscriptionTier: view.tenant.subscription_tier,
      schemaName: view.tenant.schema_name,
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

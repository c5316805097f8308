--! Previous: sha1:15d77a1c175b0e2ec925e40475e03b486145cb89
--! Hash: sha1:4778868dd4c7a710c1d6058959d0b7413e01e51d
--! Message: session check in one round trip

-- The gateway checks every request's session before it runs. Letting the login role call this one
-- function directly (no transaction, no role switch) saves three round trips per request; it
-- answers only for a (user, session id) pair the caller already holds in a signed token.
grant usage on schema app_private to stoflow_authenticator;
grant execute on function app_private.session_role(int, uuid) to stoflow_authenticator;

--! Previous: sha1:df5b39dccc118f38f0b2bb5cdd46615fec745757
--! Hash: sha1:657d5f1bcada24b261e6a89cc69ad24e978ae192
--! Message: Issue 29: a transaction's opening as one call of app_private.open_transaction (settings, session or tenant check, tenant schema), whose plan PostgreSQL keeps, instead of statements parsed and planned for every request

-- Enter migration here (idempotent while it is current.sql)

-- Issue 29: a transaction's opening as one call of a function whose plan PostgreSQL keeps, instead
-- of a statement of set_config calls and a statement per check, which PostgreSQL parsed and planned
-- again for every request. Measured on one connection (2 cores, 6 alternated rounds of 3,000
-- transactions, each BEGIN, opening, a 21-row read, COMMIT): the backend's CPU 180 to 203 µs per
-- transaction with the statements, 130 to 157 µs with the function.
create or replace function app_private.open_transaction(settings json, session_known_live boolean)
  returns void
  language plpgsql volatile
  as $$
begin
  perform pg_catalog.set_config(setting->>0, setting->>1, true)
     from pg_catalog.json_array_elements(settings) setting;
  if coalesce(pg_catalog.current_setting('jwt.claims.session_id', true), '') <> '' then
    if session_known_live then
      perform app_private.require_tenant_available();
    else
      perform app_private.require_live_session();
    end if;
  end if;
  if coalesce(pg_catalog.current_setting('jwt.claims.tenant_id', true), '') <> '' then
    perform app_private.enter_tenant_schema();
  end if;
end
$$;
comment on function app_private.open_transaction(json, boolean) is
  'Opens the current transaction for a request, right after BEGIN: applies the settings ([[name, value], …]: the role, the claims, the bounds) local to the transaction, in order; '
  'then, when the claims name a session, checks it (require_live_session, raising SFSES), or only the tenant''s maintenance (require_tenant_available, raising SFMNT) when the server knows the session to be live (session_known_live, see src/auth/session-liveness.ts); '
  'then, when they name a tenant, puts its schema first on the search_path (enter_tenant_schema). '
  'Security invoker, and without a SET clause of its own, which would undo the role and search_path it sets when it returns: the checks run as the role the settings switched to.';
revoke all on function app_private.open_transaction(json, boolean) from public;
grant execute on function app_private.open_transaction(json, boolean) to stoflow_authenticator;

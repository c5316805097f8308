-- Enter migration here (idempotent while it is current.sql)

-- Issue 29: session liveness in memory. A gateway that provably hears every revocation
-- (stoflow_session_ended on its LISTEN connection) opens the transactions of a session it has
-- already seen live with this check alone; the tenant's maintenance state still applies to every
-- request.
create or replace function app_private.require_tenant_available() returns void
  language plpgsql stable security definer
  set search_path to 'pg_catalog', 'public', 'pg_temp'
as $$
declare
  tenant_id text := current_setting('jwt.claims.tenant_id', true);
begin
  if coalesce(tenant_id, '') <> '' then
    perform app_private.assert_tenant_available(tenant_id::int); -- SFMNT while the tenant's schema lags
  end if;
end
$$;
comment on function app_private.require_tenant_available() is
  'The opening check of a transaction whose session the gateway knows to be live (it verified it with app_private.require_live_session() and has heard no revocation of it since, see src/auth/session-liveness.ts): raises SFMNT (503 TENANT_MAINTENANCE) while the tenant of the claims lags behind the template; does nothing without a tenant.';
revoke all on function app_private.require_tenant_available() from public;
grant execute on function app_private.require_tenant_available() to stoflow_anonymous, stoflow_auth, stoflow_authenticator;

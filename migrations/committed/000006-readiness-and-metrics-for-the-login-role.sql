--! Previous: sha1:d1358de4222a47bbebbf6f7eddc023bb819124b2
--! Hash: sha1:96a9f129d6d574c52653f77664e00eb3d69600bd
--! Message: readiness and metrics for the login role

drop function if exists app_private.server_status() cascade;

-- What /ready and /metrics need, readable by the login role through one function: how many
-- migrations are applied, how many tenant schemas miss a DDL step, how many tenants exist.
create function app_private.server_status()
  returns table (applied_migrations int, tenant_schemas_behind int, tenants int)
  language sql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  select (select count(*)::int from graphile_migrate.migrations),
         (select count(*)::int from app_private.tenant_schemas
           where version < (select coalesce(max(version), 0) from app_private.tenant_ddl_steps)),
         (select count(*)::int from public.tenants)
$$;
comment on function app_private.server_status() is
  'Applied migrations, tenant schemas missing a DDL step, and the number of tenants: for the readiness check and metrics.';
grant execute on function app_private.server_status() to stoflow_authenticator;

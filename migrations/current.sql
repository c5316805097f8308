-- Enter migration here (idempotent while it is current.sql)

-- design: every rule written once (issue 15).

-- "The account may act": its user and its tenant are both active. One predicate for opening a
-- session, checking it on every request and refreshing its tokens. Plain SQL without SET, so the
-- planner inlines it into the queries that call it.
create or replace function app_private.account_may_act(account public.users, tenant public.tenants) returns boolean
  language sql immutable parallel safe
  as $$ select account.is_active and tenant.is_active $$;
comment on function app_private.account_may_act(public.users, public.tenants) is
  'Whether a user may act: the user and their tenant are both active. Opening a session, the per-request session check and refreshing tokens all ask this.';

create or replace function app_private.open_session(user_id integer, credential_version integer, refresh_token_hash bytea, refresh_ttl interval)
  returns uuid language sql security definer
  set search_path to 'pg_catalog', 'public', 'pg_temp'
as $$
  with s as (
    insert into app_private.sessions (user_id, credential_version)
    select u.id, sec.credential_version
      from public.users u
      join public.tenants t on t.id = u.tenant_id
      join app_private.user_secrets sec on sec.user_id = u.id
     where u.id = open_session.user_id and app_private.account_may_act(u, t)
       and sec.credential_version = open_session.credential_version
    returning id
  ), t as (
    insert into app_private.refresh_tokens (token_hash, session_id, expires_at)
    select refresh_token_hash, s.id, now() + refresh_ttl from s
  )
  select id from s
$$;

create or replace function app_private.require_live_session(user_id integer, tenant_id integer, app_role text, session_id uuid)
  returns void language plpgsql stable security definer
  set search_path to 'pg_catalog', 'public', 'pg_temp'
as $$
declare
  live record;
begin
  select u.tenant_id, u.role::text as role into live
    from app_private.sessions s
    join public.users u on u.id = s.user_id
    join public.tenants t on t.id = u.tenant_id
    join app_private.user_secrets sec on sec.user_id = u.id
   where s.id = require_live_session.session_id and s.user_id = require_live_session.user_id
     and s.revoked_at is null and s.credential_version = sec.credential_version and app_private.account_may_act(u, t);
  if not found then
    raise exception 'Session ended or account inactive' using errcode = 'SFSES';
  end if;
  if live.tenant_id is distinct from require_live_session.tenant_id or live.role is distinct from app_role then
    raise exception 'Token outdated; refresh it' using errcode = 'SFSES';
  end if;
  perform app_private.assert_tenant_available(live.tenant_id); -- SFMNT while the tenant's schema lags
end
$$;

create or replace function app_private.rotate_refresh_token(old_hash bytea, new_hash bytea, refresh_ttl interval)
  returns app_private.refresh_result language plpgsql security definer
  set search_path to 'pg_catalog', 'public', 'pg_temp'
as $$
declare
  token app_private.refresh_tokens;
  session app_private.sessions;
  account record;
begin
  select * into token from app_private.refresh_tokens where token_hash = old_hash for update;
  if not found then
    return ('invalid', null, null, null, null)::app_private.refresh_result;
  end if;
  select * into session from app_private.sessions where id = token.session_id for update;
  if session.revoked_at is not null
     or session.credential_version is distinct from (select s.credential_version from app_private.user_secrets s where s.user_id = session.user_id) then
    return ('invalid', null, null, null, null)::app_private.refresh_result;
  end if;
  if token.used_at is not null then
    update app_private.sessions set revoked_at = now(), revoked_reason = 'refresh token reused'
      where id = session.id;
    return ('reused', null, null, null, null)::app_private.refresh_result;
  end if;
  if token.expires_at <= now() then
    return ('expired', null, null, null, null)::app_private.refresh_result;
  end if;
  select u.id, u.tenant_id, u.role into account
    from public.users u join public.tenants t on t.id = u.tenant_id
   where u.id = session.user_id and app_private.account_may_act(u, t);
  if not found then
    return ('inactive', null, null, null, null)::app_private.refresh_result;
  end if;
  update app_private.refresh_tokens set used_at = now() where token_hash = old_hash;
  insert into app_private.refresh_tokens (token_hash, session_id, expires_at)
    values (new_hash, session.id, now() + refresh_ttl);
  update app_private.sessions set last_refreshed_at = now() where id = session.id;
  return ('ok', account.id, account.tenant_id, account.role, session.id)::app_private.refresh_result;
end;
$$;

-- The tables a tenant owns: those of tenant_template, read from the catalog, so a table added by
-- a tenant DDL step is exported and locked for deletion without anyone listing it again. Tables
-- that reference another come first: the order delete_tenant locks them in (children first).
create or replace function app_private.tenant_tables() returns setof text
  language sql stable parallel safe
  set search_path to 'pg_catalog', 'pg_temp'
as $$
  select c.relname::text from pg_class c
   where c.relnamespace = 'tenant_template'::regnamespace and c.relkind = 'r'
   order by exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype = 'f') desc, c.relname
$$;
comment on function app_private.tenant_tables() is
  'The tables every tenant schema holds, as tenant_template holds them (read from the catalog), those that reference another first: what an export writes out and a deletion locks.';

create or replace function public.export_tenant_data()
  returns jsonb language plpgsql stable security definer
  set search_path to 'pg_catalog', 'public', 'pg_temp'
as $$
declare
  t public.tenants;
  tenant_rows jsonb := '{}';
  table_name text;
  rows jsonb;
begin
  select * into t from public.tenants where id = app_private.current_tenant_id();
  for table_name in select app_private.tenant_tables() loop
    execute format('select coalesce(jsonb_agg(to_jsonb(x)), ''[]'') from %I.%I x', t.schema_name, table_name) into rows;
    tenant_rows := tenant_rows || jsonb_build_object(table_name, rows);
  end loop;
  return jsonb_build_object(
    'exported_at', now(),
    'tenant', to_jsonb(t),
    'users', (select coalesce(jsonb_agg(to_jsonb(u) order by u.id), '[]') from public.users u where u.tenant_id = t.id),
    'subscriptions', (select coalesce(jsonb_agg(to_jsonb(s) order by s.id), '[]') from public.subscriptions s where s.tenant_id = t.id)
  ) || tenant_rows;
end;
$$;

-- Named for what it returns, not its format (it replaces app_private.session_json).
create or replace function app_private.session_user_and_tenant(user_id integer) returns jsonb
  language sql stable security definer
  set search_path to 'pg_catalog', 'public', 'pg_temp'
as $$
  select jsonb_build_object(
    'user', jsonb_build_object('id', u.id, 'email', u.email, 'full_name', u.full_name, 'role', u.role),
    'tenant', jsonb_build_object('id', t.id, 'name', t.name, 'subscription_tier', t.subscription_tier,
                                 'schema_name', t.schema_name))
    from public.users u join public.tenants t on t.id = u.tenant_id
   where u.id = session_user_and_tenant.user_id
$$;
comment on function app_private.session_user_and_tenant(integer) is
  'The user and tenant of a session (what the auth routes and currentSession answer), in the JSON shape of the REST API.';
grant execute on function app_private.session_user_and_tenant(integer) to stoflow_auth;
drop function if exists app_private.session_json(integer);

-- The request's tenant schema first on its search_path, named by SQL (tenants.schema_name is
-- client_<id>, and current_tenant_schema says so): the gateway never builds a schema name. Called
-- as a transaction opens (src/db/transaction.ts, openingStatement) after the claims are set. No SET
-- clause: a function's own SET would undo the setting on return.
create or replace function app_private.enter_tenant_schema() returns text
  language sql volatile
  as $$ select set_config('search_path', coalesce(quote_ident(app_private.current_tenant_schema()) || ', ', '') || 'public', true) $$;
comment on function app_private.enter_tenant_schema() is
  'Sets the transaction''s search_path to the tenant schema of its claims, then public (public alone without a tenant); returns it. Unqualified table names then reach that tenant''s tables.';
grant execute on function app_private.enter_tenant_schema() to stoflow_anonymous, stoflow_auth;
-- The auth service's transactions for a signed-in user carry the claims too (they enter the schema).
grant execute on function app_private.current_tenant_schema(), app_private.current_tenant_id() to stoflow_auth;
-- The gateway's introspection leaves tenant schemas out by asking SQL which schemas they are
-- (src/graphql/introspection.ts), rather than matching their names itself.
grant execute on function app_private.tenant_id_of_schema(text) to stoflow_authenticator;

-- The default tier written once, as the default of tenants.subscription_tier: a registration
-- without a tier (null) takes the column's default, and the gateway no longer sends 'starter'.
create or replace function app_private.register_tenant(tenant_name text, email text, password_hash text, tier text default null)
  returns app_private.jwt_claims language plpgsql security definer
  set search_path to 'pg_catalog', 'public', 'pg_temp'
as $$
declare
  new_tenant public.tenants;
  new_user_id int;
  new_schema text;
begin
  if tier is not null and not exists (select 1 from public.tiers t where t.id = register_tenant.tier) then
    raise exception 'Unknown subscription tier "%"', register_tenant.tier using errcode = '22023';
  end if;
  if tier is null then
    insert into public.tenants (name, email) values (tenant_name, register_tenant.email) returning * into new_tenant;
  else
    insert into public.tenants (name, email, subscription_tier) values (tenant_name, register_tenant.email, register_tenant.tier)
      returning * into new_tenant;
  end if;
  new_schema := new_tenant.schema_name;
  execute format('create schema %I', new_schema);
  execute format('comment on schema %I is %L', new_schema, 'Tables of tenant ' || new_tenant.id || '.');
  insert into app_private.tenant_schemas (schema_name, tenant_id) values (new_schema, new_tenant.id);
  perform app_private.apply_tenant_ddl(new_schema);
  insert into public.users (tenant_id, email, full_name, role)
    values (new_tenant.id, register_tenant.email, tenant_name, 'admin')
    returning id into new_user_id;
  insert into app_private.user_secrets (user_id, password_hash) values (new_user_id, register_tenant.password_hash);
  insert into public.subscriptions (tenant_id, tier, price_monthly)
    select new_tenant.id, t.id, t.price_monthly from public.tiers t where t.id = new_tenant.subscription_tier;
  return (new_user_id, new_tenant.id, 'admin')::app_private.jwt_claims;
exception
  when unique_violation then
    raise exception 'Email already registered' using errcode = '23505';
end;
$$;

-- What an e-mail address looks like, written once for both tables that hold one (the gateway's
-- input check, src/auth/inputs.ts, uses the same pattern; test/sql/email.test.ts compares them).
create or replace function app_private.is_email_address(address text) returns boolean
  language sql immutable parallel safe
  as $$ select address ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' $$;
comment on function app_private.is_email_address(text) is
  'Whether a text looks like an e-mail address: something, @, a domain with a dot, no spaces. The check of tenants.email and users.email.';
grant execute on function app_private.is_email_address(text) to stoflow_anonymous, stoflow_auth;
alter table public.tenants drop constraint if exists tenants_email_check;
alter table public.tenants add constraint tenants_email_check check (app_private.is_email_address(email));
alter table public.users drop constraint if exists users_email_check;
alter table public.users add constraint users_email_check check (app_private.is_email_address(email));

-- delete_tenant locks the tenant's tables as app_private.tenant_tables() lists them (was: by hand).
create or replace function public.delete_tenant(confirm_name text) returns boolean
  language plpgsql security definer
  set search_path to 'pg_catalog', 'public', 'pg_temp'
  set lock_timeout to '100ms'
as $$
declare
  t public.tenants;
  attempts int := 0;
  tables text;
begin
  select * into t from public.tenants where id = app_private.current_tenant_id();
  if not found then
    raise exception 'No such tenant: it was deleted' using errcode = 'P0002';
  elsif confirm_name is distinct from t.name then
    raise exception 'To delete the tenant, confirm with its exact name' using errcode = '22023';
  end if;
  select string_agg(format('%I.%I', t.schema_name, name), ', ' order by n) into tables
    from app_private.tenant_tables() with ordinality as x(name, n);
  loop
    begin
      execute format('lock table %s in access exclusive mode', tables);
      perform 1 from public.users where tenant_id = t.id order by id for update;
      perform 1 from public.tenants where id = t.id for update;
      if not found then
        raise exception 'No such tenant: it was deleted' using errcode = 'P0002';
      end if;
      execute format('drop schema %I cascade', t.schema_name);
      delete from public.tenants where id = t.id;
      return true;
    exception
      when lock_not_available or deadlock_detected then
        attempts := attempts + 1;
        if attempts >= 50 then
          raise exception 'The tenant is busy: retry its deletion' using errcode = '55P03';
        end if;
        perform pg_sleep(0.01 + random() * 0.05);
      when undefined_table or invalid_schema_name then
        raise exception 'No such tenant: it was deleted' using errcode = 'P0002';
    end;
  end loop;
end;
$$;

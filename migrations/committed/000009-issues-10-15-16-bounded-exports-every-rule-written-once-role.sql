--! Previous: sha1:95a158453d6e85c9b957ef9e26dabe0bcfad7360
--! Hash: sha1:f79e441b40f0a6de1c51a61b7300a410d97caf89
--! Message: Issues 10, 15, 16: bounded exports; every rule written once (roles, account_may_act, tenant_tables, enter_tenant_schema, session_user_and_tenant, e-mail pattern, default tier); accounts by e-mail (job queue, tokens, verification, reset, invitations, change of address)

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

-- export:
-- Bounded tenant exports (issue 10): the export measures the tenant's rows before it builds its
-- document and refuses (SQLSTATE SFBIG, EXPORT_TOO_LARGE) beyond the request's bound, which the
-- server sets as `stoflow.export_max_bytes` ('0': no bound, the operator's CLI export). A
-- document PostgreSQL cannot build (54000) or cannot build within the request's statement_timeout
-- is refused the same way, never as an internal error or an outage.
create or replace function app_private.assert_export_fits(tenant_schema text, max_bytes bigint) returns void
  language plpgsql stable
  set search_path = pg_catalog, pg_temp
  as $$
declare
  table_name text;
  row_bytes integer;
  total bigint := 0;
begin
  for table_name in select app_private.tenant_tables() loop
    -- Row by row (a cursor), so measuring holds one row at a time and stops at the bound.
    for row_bytes in execute format('select octet_length(to_jsonb(x)::text) from %I.%I x', tenant_schema, table_name) loop
      total := total + row_bytes;
      if total > max_bytes then
        raise exception 'This tenant''s data is too large to export in one document: its rows exceed the limit of % bytes (EXPORT_MAX_BYTES)', max_bytes
          using errcode = 'SFBIG';
      end if;
    end loop;
  end loop;
end;
$$;
comment on function app_private.assert_export_fits(text, bigint) is
  'Refuses (SQLSTATE SFBIG) when the rows of a tenant schema''s tables, as JSON text, exceed max_bytes; stops reading at the bound.';

create or replace function public.export_tenant_data() returns jsonb
  language plpgsql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  t public.tenants;
  tenant_rows jsonb := '{}';
  table_name text;
  rows jsonb;
  max_bytes bigint := current_setting('stoflow.export_max_bytes', true)::bigint;
begin
  if max_bytes is null then
    raise exception 'stoflow.export_max_bytes is not set: the server sets it for every export (0: no bound)';
  end if;
  select * into t from public.tenants where id = app_private.current_tenant_id();
  begin
    if max_bytes > 0 then
      perform app_private.assert_export_fits(t.schema_name, max_bytes);
    end if;
    for table_name in select app_private.tenant_tables() loop
      execute format('select coalesce(jsonb_agg(to_jsonb(x)), ''[]'') from %I.%I x', t.schema_name, table_name) into rows;
      tenant_rows := tenant_rows || jsonb_build_object(table_name, rows);
    end loop;
  exception
    when program_limit_exceeded then
      raise exception 'This tenant''s data is too large to export in one document' using errcode = 'SFBIG';
    when query_canceled then
      raise exception 'This tenant''s data could not be exported within the time limit (%)', current_setting('statement_timeout')
        using errcode = 'SFBIG';
  end;
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

-- mail: accounts by e-mail (issue 16). Mail leaves through graphile-worker's job queue (schema
-- graphile_worker, installed before the migrations by src/jobs/queue-schema.ts): a job is queued
-- in the transaction that asks for it. The worker mints each e-mailed token when it sends the
-- message, so only its hash is ever stored; tokens are single use, expiring, bound to a user, a
-- purpose and the address they were sent to.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'stoflow_worker') then
    create role stoflow_worker nologin;
  end if;
end
$$;
comment on role stoflow_worker is 'The job worker: runs graphile-worker''s queue and mints the tokens it e-mails; no API data.';
grant stoflow_worker to stoflow_authenticator;
grant usage on schema app_private to stoflow_worker;
grant usage on schema graphile_worker to stoflow_worker;
grant select, insert, update, delete on all tables in schema graphile_worker to stoflow_worker;
grant usage, select on all sequences in schema graphile_worker to stoflow_worker;
grant execute on all functions in schema graphile_worker to stoflow_worker;
-- graphile-worker enables row-level security on its tables (only their owner reads them): the worker role may use every row.
do $$
declare
  queue_table text;
begin
  for queue_table in select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                      where n.nspname = 'graphile_worker' and c.relkind = 'r' and c.relrowsecurity loop
    execute format('drop policy if exists worker_all on graphile_worker.%I', queue_table);
    execute format('create policy worker_all on graphile_worker.%I for all to stoflow_worker using (true) with check (true)', queue_table);
  end loop;
end
$$;
-- What a newer graphile-worker creates (as the owner, when the server starts) is the worker's too.
alter default privileges in schema graphile_worker grant select, insert, update, delete on tables to stoflow_worker;
alter default privileges in schema graphile_worker grant usage, select on sequences to stoflow_worker;
alter default privileges in schema graphile_worker grant execute on functions to stoflow_worker;

-- users.email_verified_at is the fact; is_verified (kept for the API) is derived from it.
alter table public.users add column if not exists email_verified_at timestamptz;
comment on column public.users.email_verified_at is 'When the user proved they read mail at this address (a link of a verification, reset or invitation message); null until then.';
do $$
begin
  if exists (select 1 from information_schema.columns where table_schema = 'public' and table_name = 'users'
              and column_name = 'is_verified' and is_generated = 'NEVER') then
    update public.users set email_verified_at = updated_at where is_verified and email_verified_at is null;
    alter table public.users drop column is_verified;
  end if;
end
$$;
alter table public.users add column if not exists is_verified boolean generated always as (email_verified_at is not null) stored;
alter table public.users alter column is_verified set not null;
comment on column public.users.is_verified is 'True once the e-mail address is verified (email_verified_at is set).';

create table if not exists app_private.user_tokens (
  token_hash bytea primary key check (length(token_hash) = 32),
  user_id int not null references public.users (id) on delete cascade,
  purpose text not null check (purpose in ('verify_email', 'reset_password', 'invitation', 'change_email')),
  email varchar(255) not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index if not exists user_tokens_user_id_idx on app_private.user_tokens (user_id);
create index if not exists user_tokens_expires_at_idx on app_private.user_tokens (expires_at);
alter table app_private.user_tokens enable row level security;
comment on table app_private.user_tokens is 'Tokens sent by e-mail (SHA-256 of 32 random bytes; the token itself is never stored). Readable by no API role.';
comment on column app_private.user_tokens.token_hash is 'SHA-256 of the token the message carried.';
comment on column app_private.user_tokens.user_id is 'The user the token acts for.';
comment on column app_private.user_tokens.purpose is 'What the token may do: verify_email, reset_password, invitation or change_email; it does nothing else.';
comment on column app_private.user_tokens.email is 'The address the token was sent to (for change_email, the new address it confirms).';
comment on column app_private.user_tokens.created_at is 'When the token was minted (and its message sent).';
comment on column app_private.user_tokens.expires_at is 'After this the token answers TOKEN_EXPIRED.';
comment on column app_private.user_tokens.used_at is 'When the token was used: single use, a second use answers TOKEN_USED.';

create or replace function app_private.queue_account_email(user_id int, purpose text, email text default null) returns void
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
begin
  -- One pending message per user and purpose: a new request replaces the one not sent yet.
  perform graphile_worker.add_job('account_email',
    json_build_object('user_id', queue_account_email.user_id, 'purpose', purpose, 'email', queue_account_email.email),
    job_key => purpose || ':' || queue_account_email.user_id, job_key_mode => 'replace');
end;
$$;
comment on function app_private.queue_account_email(int, text, text) is 'Queues the account message of this purpose for the user (in the caller''s transaction: no mail for a rolled-back change); email is the new address of a change_email.';
revoke all on function app_private.queue_account_email(int, text, text) from public;
grant execute on function app_private.queue_account_email(int, text, text) to stoflow_auth;

create or replace function app_private.issue_user_token(user_id int, purpose text, token_hash bytea, ttl interval, new_email text default null)
  returns table (email text, full_name text, tenant_name text)
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
begin
  -- Whom to write, if the message still makes sense: nobody (no row) for a user gone, inactive,
  -- already verified (verify_email), invited long ago and signed up since (invitation)…
  return query
    select coalesce(new_email, u.email)::text, u.full_name::text, t.name::text
      from public.users u join public.tenants t on t.id = u.tenant_id
     where u.id = issue_user_token.user_id and u.is_active and t.is_active
       and case purpose
             when 'verify_email' then u.email_verified_at is null
             when 'reset_password' then exists (select 1 from app_private.user_secrets s where s.user_id = u.id)
             when 'invitation' then not exists (select 1 from app_private.user_secrets s where s.user_id = u.id)
             when 'change_email' then new_email is not null
           end;
  if found then
    insert into app_private.user_tokens (token_hash, user_id, purpose, email, expires_at)
      select issue_user_token.token_hash, issue_user_token.user_id, purpose, coalesce(new_email, u.email), now() + ttl
        from public.users u where u.id = issue_user_token.user_id;
  end if;
  -- Tokens expired a day ago tell nothing more: a few are forgotten at each issue.
  delete from app_private.user_tokens d where d.token_hash in (
    select t.token_hash from app_private.user_tokens t where t.expires_at < now() - interval '1 day'
     order by t.expires_at limit 16 for update skip locked);
end;
$$;
comment on function app_private.issue_user_token(int, text, bytea, interval, text) is 'The job worker, as it sends an account message: stores the hash of the token it carries and returns the address, name and shop to write to; no row when the message has nothing left to do (user gone or inactive, already verified, invitation already accepted).';
revoke all on function app_private.issue_user_token(int, text, bytea, interval, text) from public;
grant execute on function app_private.issue_user_token(int, text, bytea, interval, text) to stoflow_worker;

create or replace function app_private.user_token_outcome(token app_private.user_tokens, purpose text) returns text
  language sql stable set search_path = pg_catalog, public, pg_temp as $$
  select case
    when token.token_hash is null or token.purpose <> user_token_outcome.purpose then 'invalid'
    when token.used_at is not null then 'used'
    when token.expires_at <= now() then 'expired'
    -- The account was deactivated, or its address changed since the token was sent.
    when not exists (select 1 from public.users u join public.tenants t on t.id = u.tenant_id
                      where u.id = token.user_id and u.is_active and t.is_active
                        and (token.purpose = 'change_email' or lower(u.email) = lower(token.email))) then 'invalid'
    else 'ok'
  end
$$;
comment on function app_private.user_token_outcome(app_private.user_tokens, text) is 'What a token (a null row: none) can do for this purpose: ok, or invalid (unknown, another purpose, account inactive or address changed), used, expired.';
revoke all on function app_private.user_token_outcome(app_private.user_tokens, text) from public;

create or replace function app_private.check_user_token(
  token_hash bytea, purpose text, client_address text, max_attempts int, window_seconds int
) returns table (retry_after int, outcome text)
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
begin
  retry_after := app_private.reserve_attempts(array[app_private.throttle_key('token-address', client_address)],
                                              array[max_attempts], window_seconds);
  if retry_after = 0 then
    outcome := coalesce((select app_private.user_token_outcome(t, check_user_token.purpose) from app_private.user_tokens t
                          where t.token_hash = check_user_token.token_hash), 'invalid');
  end if;
  return next;
end;
$$;
comment on function app_private.check_user_token(bytea, text, text, int, int) is 'First step of every use of an e-mailed token, before any bcrypt: reserves an attempt of the client address (seconds to wait, else 0), then says what the token can do without using it.';
revoke all on function app_private.check_user_token(bytea, text, text, int, int) from public;
grant execute on function app_private.check_user_token(bytea, text, text, int, int) to stoflow_auth;

create or replace function app_private.use_user_token(token_hash bytea, purpose text, out outcome text, out user_id int, out email text)
  language plpgsql set search_path = pg_catalog, public, pg_temp as $$
declare
  token app_private.user_tokens;
begin
  -- The row lock makes parallel uses of one token queue: the first marks it used, the rest see it used.
  select * into token from app_private.user_tokens t where t.token_hash = use_user_token.token_hash for update;
  outcome := app_private.user_token_outcome(token, purpose);
  if outcome = 'ok' then
    update app_private.user_tokens t set used_at = now() where t.token_hash = use_user_token.token_hash;
    user_id := token.user_id;
    email := token.email;
  end if;
end;
$$;
comment on function app_private.use_user_token(bytea, text) is 'Uses an e-mailed token once (ok, with its user and address; else what app_private.user_token_outcome says); called by the security definer function of each flow.';
revoke all on function app_private.use_user_token(bytea, text) from public;

create or replace function app_private.verify_email(token_hash bytea) returns text
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  used record;
begin
  select * into used from app_private.use_user_token(token_hash, 'verify_email');
  if used.outcome = 'ok' then
    update public.users u set email_verified_at = coalesce(u.email_verified_at, now()) where u.id = used.user_id;
  end if;
  return used.outcome;
end;
$$;
comment on function app_private.verify_email(bytea) is 'Verifies the address a verify_email token was sent to; returns ok, invalid, used or expired.';
revoke all on function app_private.verify_email(bytea) from public;
grant execute on function app_private.verify_email(bytea) to stoflow_auth;

create or replace function app_private.request_account_email(
  email text, purpose text, client_address text, max_per_email int, max_per_address int, window_seconds int
) returns int
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  retry_after int := app_private.reserve_attempts(
    array[app_private.throttle_key('mail-email', email), app_private.throttle_key('mail-address', client_address)],
    array[max_per_email, max_per_address], window_seconds);
  found_user int;
begin
  if retry_after > 0 then
    return retry_after;
  end if;
  -- The same statements run whether or not the address is known: the answer and its time tell nothing.
  select u.id into found_user from public.users u
   where lower(u.email) = lower(request_account_email.email) and u.is_active
     and case purpose
           when 'verify_email' then u.email_verified_at is null
           when 'reset_password' then exists (select 1 from app_private.user_secrets s where s.user_id = u.id)
         end;
  if found_user is not null then
    perform app_private.queue_account_email(found_user, purpose);
  end if;
  return 0;
end;
$$;
comment on function app_private.request_account_email(text, text, text, int, int, int) is 'Anonymous request of a verify_email (resend) or reset_password message for an address: throttled per address and per client (seconds to wait, else 0); queues the message only when an account fits, and answers the same either way.';
revoke all on function app_private.request_account_email(text, text, text, int, int, int) from public;
grant execute on function app_private.request_account_email(text, text, text, int, int, int) to stoflow_auth;

-- The session's user says whether its address is verified.
create or replace function app_private.session_user_and_tenant(user_id integer) returns jsonb
  language sql stable security definer set search_path = pg_catalog, public, pg_temp as $$
  select jsonb_build_object(
    'user', jsonb_build_object('id', u.id, 'email', u.email, 'full_name', u.full_name, 'role', u.role,
                               'email_verified', u.email_verified_at is not null),
    'tenant', jsonb_build_object('id', t.id, 'name', t.name, 'subscription_tier', t.subscription_tier,
                                 'schema_name', t.schema_name))
    from public.users u join public.tenants t on t.id = u.tenant_id
   where u.id = session_user_and_tenant.user_id
$$;

create or replace function app_private.reset_password(token_hash bytea, password_hash text) returns text
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  used record;
begin
  select * into used from app_private.use_user_token(token_hash, 'reset_password');
  if used.outcome = 'ok' then
    update app_private.user_secrets s set password_hash = reset_password.password_hash, password_changed_at = now()
     where s.user_id = used.user_id;
    perform app_private.end_sessions(array[used.user_id], 'password reset');
    -- The link proved the address; and the failed logins of whoever forgot the password are forgiven.
    update public.users u set email_verified_at = coalesce(u.email_verified_at, now()) where u.id = used.user_id;
    delete from app_private.attempt_counters where key = app_private.throttle_key('login-email', used.email);
  end if;
  return used.outcome;
end;
$$;
comment on function app_private.reset_password(bytea, text) is 'Sets the password (bcrypt hash made in Node) with a reset_password token, once: ends every session of the user, verifies the address, clears its failed logins; returns ok, invalid, used or expired.';
revoke all on function app_private.reset_password(bytea, text) from public;
grant execute on function app_private.reset_password(bytea, text) to stoflow_auth;

-- Invitations: an admin adds a user without a password; the invitee chooses it through the link.
create or replace function app_private.queue_invitation(user_id int) returns void
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
begin
  if not exists (select 1 from public.users u where u.id = queue_invitation.user_id
                  and u.tenant_id = app_private.current_tenant_id()
                  and not exists (select 1 from app_private.user_secrets s where s.user_id = u.id)) then
    raise exception 'No invited user of this tenant' using errcode = '42501';
  end if;
  perform app_private.queue_account_email(queue_invitation.user_id, 'invitation');
end;
$$;
comment on function app_private.queue_invitation(int) is 'Queues the invitation message of a user of the caller''s tenant who has no password yet (42501 for anyone else).';
revoke all on function app_private.queue_invitation(int) from public;
grant execute on function app_private.queue_invitation(int) to stoflow_admin;

create or replace function app_private.invite_user(email text, full_name text, role public.user_role) returns int
  language plpgsql set search_path = pg_catalog, public, pg_temp as $$
declare
  invited int;
begin
  -- As the calling admin: grants and row-level security decide, as for any user they add.
  insert into public.users (email, full_name, role) values (invite_user.email, invite_user.full_name, invite_user.role)
    returning id into invited;
  perform app_private.queue_invitation(invited);
  return invited;
end;
$$;
comment on function app_private.invite_user(text, text, public.user_role) is 'An admin invites a user into their own tenant (by their grants and row-level security): the user, without a password, and the invitation message queued in the same transaction.';
revoke all on function app_private.invite_user(text, text, public.user_role) from public;
grant execute on function app_private.invite_user(text, text, public.user_role) to stoflow_admin;

drop function if exists app_private.accept_invitation(bytea, text);
create or replace function app_private.accept_invitation(token_hash bytea, password_hash text, out outcome text, out user_id int, out credential_version int)
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  used record;
begin
  select * into used from app_private.use_user_token(token_hash, 'invitation');
  outcome := used.outcome;
  if outcome = 'ok' then
    insert into app_private.user_secrets as s (user_id, password_hash) values (used.user_id, accept_invitation.password_hash)
      on conflict do nothing returning s.credential_version into credential_version;
    if not found then
      outcome := 'used'; -- accepted already (through another message)
      return;
    end if;
    update public.users u set email_verified_at = coalesce(u.email_verified_at, now()) where u.id = used.user_id;
    user_id := used.user_id;
  end if;
end;
$$;
comment on function app_private.accept_invitation(bytea, text) is 'The invitee sets their first password with an invitation token, once; the address counts as verified. Returns ok with the user and the credential version to open a session with, or invalid, used, expired.';
revoke all on function app_private.accept_invitation(bytea, text) from public;
grant execute on function app_private.accept_invitation(bytea, text) to stoflow_auth;

-- Change of address: confirmed at the new address before it takes effect; the old one is told.
create or replace function app_private.request_email_change(
  new_email text, client_address text, max_per_email int, max_per_address int, window_seconds int
) returns int
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  retry_after int := app_private.reserve_attempts(
    array[app_private.throttle_key('mail-email', new_email), app_private.throttle_key('mail-address', client_address)],
    array[max_per_email, max_per_address], window_seconds);
begin
  if retry_after = 0 and not exists (select 1 from public.users u where lower(u.email) = lower(new_email)) then
    perform app_private.queue_account_email(app_private.current_user_id(), 'change_email', new_email);
  end if;
  return retry_after;
end;
$$;
comment on function app_private.request_email_change(text, text, int, int, int) is 'The signed-in user asks to move to a new address: throttled like every mail request; the confirmation goes to the new address unless an account has it already (the same answer either way).';
revoke all on function app_private.request_email_change(text, text, int, int, int) from public;
grant execute on function app_private.request_email_change(text, text, int, int, int) to stoflow_auth;

create or replace function app_private.confirm_email_change(token_hash bytea) returns text
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  used record;
  old_email text;
begin
  select * into used from app_private.use_user_token(token_hash, 'change_email');
  if used.outcome = 'ok' then
    select u.email into old_email from public.users u where u.id = used.user_id for update;
    update public.users u set email = used.email, email_verified_at = now() where u.id = used.user_id; -- 23505 if taken meanwhile
    perform graphile_worker.add_job('account_email',
      json_build_object('user_id', used.user_id, 'purpose', 'email_changed', 'email', old_email, 'new_email', used.email));
  end if;
  return used.outcome;
end;
$$;
comment on function app_private.confirm_email_change(bytea) is 'Moves the user to the address a change_email token was sent to (verified by that), and queues the notice to the old address; returns ok, invalid, used or expired (23505 when an account took the address meanwhile).';
revoke all on function app_private.confirm_email_change(bytea) from public;
grant execute on function app_private.confirm_email_change(bytea) to stoflow_auth;

-- Invited admins who have not accepted yet do not keep a tenant administered.
create or replace function app_private.tg_users__protect_admins() returns trigger
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $function$
begin
  if tg_op = 'UPDATE' and new.role is distinct from old.role and old.id = app_private.current_user_id() then
    raise exception 'Nobody changes their own role' using errcode = '42501';
  end if;
  -- Requests through the API always carry a tenant; operators working in SQL (no claims) may
  -- still deactivate or remove any account.
  if old.role = 'admin' and old.is_active and app_private.current_tenant_id() is not null
     and (tg_op = 'DELETE' or new.role <> 'admin' or not new.is_active) then
    -- Lock the tenant first, then count in a new statement: the count then sees every admin change
    -- committed by whoever held the lock before (counting in the locking statement would use the
    -- snapshot taken before the wait, and two admins demoting each other would both pass).
    perform 1 from public.tenants where id = old.tenant_id for no key update;
    if not found then
      return coalesce(new, old); -- the tenant is being deleted: its users go with it
    end if;
    if not exists (select 1 from public.users u where u.tenant_id = old.tenant_id and u.id <> old.id
                   and u.role = 'admin' and u.is_active
                   -- An invited admin who has not chosen a password yet cannot sign in: not one who counts.
                   and exists (select 1 from app_private.user_secrets s where s.user_id = u.id)) then
      raise exception 'The last active admin of a tenant cannot be removed, deactivated or demoted' using errcode = 'SFADM';
    end if;
  end if;
  return coalesce(new, old);
end;
$function$;

comment on function public.export_tenant_data() is
  'Everything of the signed-in admin''s tenant as one JSON document: tenant, users (no passwords), subscriptions and every tenant table. Refused (EXPORT_TOO_LARGE) beyond the server''s EXPORT_MAX_BYTES or its export time limit.';

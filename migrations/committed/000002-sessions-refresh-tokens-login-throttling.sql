--! Previous: sha1:63a9bef0e71c828c4f8a1932200bd56332c73e88
--! Hash: sha1:18006792f80490e476370c47dc72ca4eec8b9fab
--! Message: sessions, refresh tokens, login throttling

drop table if exists app_private.refresh_tokens, app_private.sessions, app_private.login_failures cascade;
drop function if exists app_private.open_session(int, bytea, interval) cascade;
drop function if exists app_private.rotate_refresh_token(bytea, bytea, interval) cascade;
drop function if exists app_private.revoke_session(uuid, text) cascade;
drop function if exists app_private.session_role(int, uuid) cascade;
drop function if exists app_private.session_json(int) cascade;
drop function if exists app_private.set_password(int, text, uuid) cascade;
drop function if exists app_private.login_retry_after(text, text) cascade;
drop function if exists app_private.record_login_failure(text, text) cascade;
drop function if exists app_private.clear_login_failures(text) cascade;
drop type if exists app_private.refresh_result cascade;

------------------------------------------------------------------------------------------------
-- Sessions: one per sign-in; each holds a family of single-use refresh tokens.
------------------------------------------------------------------------------------------------
create table app_private.sessions (
  id uuid primary key default gen_random_uuid(),
  user_id int not null references public.users on delete cascade,
  created_at timestamptz not null default now(),
  last_refreshed_at timestamptz,
  revoked_at timestamptz,
  revoked_reason text
);
create index sessions_user_id_idx on app_private.sessions (user_id);
alter table app_private.sessions enable row level security;
comment on table app_private.sessions is 'One row per sign-in. Access tokens name their session (sid); a revoked session refuses them at once.';
comment on column app_private.sessions.id is 'Session id, the sid claim of its access tokens.';
comment on column app_private.sessions.user_id is 'The signed-in user.';
comment on column app_private.sessions.created_at is 'When the user signed in.';
comment on column app_private.sessions.last_refreshed_at is 'When a refresh token of the session was last used.';
comment on column app_private.sessions.revoked_at is 'When the session was ended (logout, password change, reuse of a refresh token).';
comment on column app_private.sessions.revoked_reason is 'Why the session was ended.';

create table app_private.refresh_tokens (
  token_hash bytea primary key check (length(token_hash) = 32),
  session_id uuid not null references app_private.sessions on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index refresh_tokens_session_id_idx on app_private.refresh_tokens (session_id);
alter table app_private.refresh_tokens enable row level security;
comment on table app_private.refresh_tokens is 'Opaque refresh tokens, stored as SHA-256 hashes. Each is used once; using a used one again revokes its session.';
comment on column app_private.refresh_tokens.token_hash is 'SHA-256 of the token (the token itself is never stored).';
comment on column app_private.refresh_tokens.session_id is 'The session (token family) it belongs to.';
comment on column app_private.refresh_tokens.created_at is 'When it was issued.';
comment on column app_private.refresh_tokens.expires_at is 'When it stops being accepted.';
comment on column app_private.refresh_tokens.used_at is 'When it was exchanged for a new one; NULL while unused.';

create function app_private.open_session(user_id int, refresh_token_hash bytea, refresh_ttl interval) returns uuid
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  with s as (insert into app_private.sessions (user_id) values (open_session.user_id) returning id),
  t as (insert into app_private.refresh_tokens (token_hash, session_id, expires_at)
        select refresh_token_hash, s.id, now() + refresh_ttl from s)
  select id from s
$$;
comment on function app_private.open_session(int, bytea, interval) is
  'Starts a session for a signed-in user with its first refresh token; returns the session id.';

create type app_private.refresh_result as (
  outcome text, sub int, tenant_id int, role public.user_role, session_id uuid
);
comment on type app_private.refresh_result is
  'Outcome of a refresh (ok, invalid, expired, reused, inactive) and, when ok, the new claims.';

create function app_private.rotate_refresh_token(old_hash bytea, new_hash bytea, refresh_ttl interval)
  returns app_private.refresh_result
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
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
  if session.revoked_at is not null then
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
   where u.id = session.user_id and u.is_active and t.is_active;
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
comment on function app_private.rotate_refresh_token(bytea, bytea, interval) is
  'Exchanges an unused refresh token for a new one in the same session. A token used twice revokes its whole session (theft detection).';

create function app_private.revoke_session(session_id uuid, reason text) returns boolean
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  update app_private.sessions set revoked_at = now(), revoked_reason = reason
   where id = revoke_session.session_id and revoked_at is null
  returning true
$$;
comment on function app_private.revoke_session(uuid, text) is 'Ends a session: its access and refresh tokens are refused from now on.';

create function app_private.session_role(user_id int, session_id uuid)
  returns table (tenant_id int, role public.user_role)
  language sql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  select u.tenant_id, u.role
    from app_private.sessions s
    join public.users u on u.id = s.user_id
    join public.tenants t on t.id = u.tenant_id
   where s.id = session_role.session_id and s.user_id = session_role.user_id
     and s.revoked_at is null and u.is_active and t.is_active
$$;
comment on function app_private.session_role(int, uuid) is
  'The tenant and role a session may act with now; no row when the session is revoked or the user or tenant deactivated. Checked on every authenticated request.';

create function app_private.session_json(user_id int) returns jsonb
  language sql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  select jsonb_build_object(
    'user', jsonb_build_object('id', u.id, 'email', u.email, 'full_name', u.full_name, 'role', u.role),
    'tenant', jsonb_build_object('id', t.id, 'name', t.name, 'subscription_tier', t.subscription_tier,
                                 'schema_name', t.schema_name))
    from public.users u join public.tenants t on t.id = u.tenant_id
   where u.id = session_json.user_id
$$;
comment on function app_private.session_json(int) is 'The user and tenant of a session, in the JSON shape of the REST API.';

create function app_private.set_password(user_id int, password_hash text, keep_session uuid) returns void
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  update app_private.user_secrets set password_hash = set_password.password_hash, password_changed_at = now()
   where user_secrets.user_id = set_password.user_id;
  update app_private.sessions set revoked_at = now(), revoked_reason = 'password changed'
   where sessions.user_id = set_password.user_id and revoked_at is null and id is distinct from keep_session;
$$;
comment on function app_private.set_password(int, text, uuid) is
  'Stores a new password hash (made in Node) and ends every other session of the user.';

------------------------------------------------------------------------------------------------
-- Login throttling, in the database so that it holds across server processes.
------------------------------------------------------------------------------------------------
create table app_private.login_failures (
  key text primary key,
  window_started_at timestamptz not null default now(),
  failures int not null default 0
);
alter table app_private.login_failures enable row level security;
comment on table app_private.login_failures is
  'Failed logins per e-mail (key email:<address>) and per client address (key ip:<address>) in the current 15-minute window.';
comment on column app_private.login_failures.key is 'email:<lower-case address> or ip:<client address>.';
comment on column app_private.login_failures.window_started_at is 'Start of the counting window.';
comment on column app_private.login_failures.failures is 'Failures since the window started.';

create function app_private.login_retry_after(email text, client_ip text) returns int
  language sql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  select coalesce(max(ceil(extract(epoch from f.window_started_at + interval '15 minutes' - now())))::int, 0)
    from app_private.login_failures f
   where f.window_started_at > now() - interval '15 minutes'
     and ((f.key = 'email:' || lower(login_retry_after.email) and f.failures >= 5)
       or (f.key = 'ip:' || client_ip and f.failures >= 50))
$$;
comment on function app_private.login_retry_after(text, text) is
  'Seconds a login for this e-mail or from this address must wait: 5 failures per e-mail or 50 per address within 15 minutes block until the window ends; 0 when allowed.';

create function app_private.record_login_failure(email text, client_ip text) returns void
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  insert into app_private.login_failures as f (key, failures)
  values ('email:' || lower(email), 1), ('ip:' || client_ip, 1)
  on conflict (key) do update set
    failures = case when f.window_started_at > now() - interval '15 minutes' then f.failures + 1 else 1 end,
    window_started_at = case when f.window_started_at > now() - interval '15 minutes' then f.window_started_at else now() end
$$;
comment on function app_private.record_login_failure(text, text) is 'Counts a failed login for the e-mail and for the client address.';

create function app_private.clear_login_failures(email text) returns void
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$ delete from app_private.login_failures where key = 'email:' || lower(email) $$;
comment on function app_private.clear_login_failures(text) is 'Forgets the failures of an e-mail after a successful login.';

grant execute on function app_private.open_session(int, bytea, interval),
  app_private.rotate_refresh_token(bytea, bytea, interval), app_private.revoke_session(uuid, text),
  app_private.session_role(int, uuid), app_private.session_json(int),
  app_private.set_password(int, text, uuid), app_private.login_retry_after(text, text),
  app_private.record_login_failure(text, text), app_private.clear_login_failures(text) to stoflow_auth;

-- "Subscription" is GraphQL's root type for subscriptions: the API calls these rows periods.
comment on table public.subscriptions is E'@name subscription_period\nHistory of a tenant''s subscriptions; the row with no end date is the current one.';

-- Relations read naturally in the API: product.publicationsHistories, product.aiGenerationsLogs.
select app_private.add_tenant_ddl_step('relation names', $step$
comment on constraint publications_history_sku_fkey on {schema}.publications_history is
  E'@foreignFieldName publicationsHistories\nThe product this attempt concerns.';
comment on constraint ai_generations_log_sku_fkey on {schema}.ai_generations_log is
  E'@foreignFieldName aiGenerationsLogs\nThe product this text describes.';
$step$);

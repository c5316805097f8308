--! Previous: sha1:96a9f129d6d574c52653f77664e00eb3d69600bd
--! Hash: sha1:d0dd68b739a2b76f051a29bc1d3cf82552d2c0b6
--! Message: hostile traffic: throttles reserved before bcrypt, sessions bound to credentials, deactivation revokes, last admin locked, usage ledgers, finite money, deleteTenant without deadlock

-- Auth hardening: throttle slots reserved before bcrypt, sessions bound to the credential they were
-- opened with, deactivation that revokes for good, the last admin under concurrency, usage that
-- survives deletion, money that is a finite number, tenant deletion that cannot deadlock writers.
-- Idempotent while it is current.sql: what it replaces is dropped first.

drop function if exists app_private.login_retry_after(text, text);
drop function if exists app_private.record_login_failure(text, text);
drop function if exists app_private.clear_login_failures(text);
drop table if exists app_private.login_failures;
drop function if exists app_private.authenticate(int);
drop function if exists app_private.open_session(int, bytea, interval);
drop function if exists app_private.set_password(int, text, uuid);
drop function if exists app_private.login_candidate(text);

-- Credentials: a session is live only while it holds its user's current credential version,
-- which a password change or a deactivation raises (see end_sessions, session_role).
alter table app_private.user_secrets add column if not exists credential_version int not null default 1 check (credential_version > 0);
comment on column app_private.user_secrets.credential_version is
  'Raised when the password changes or the user (or tenant) is deactivated: sessions opened with an older version are dead for good.';
alter table app_private.sessions add column if not exists credential_version int not null default 1;
alter table app_private.sessions alter column credential_version drop default;
comment on column app_private.sessions.credential_version is
  'The credential version of the user when the password was checked for this session; the session is live only while it is the current one.';

------------------------------------------------------------------------------------------------
-- Throttling: a slot is reserved (checked and counted in one statement) before bcrypt runs, so
-- parallel attempts cannot all pass a check that none of them has been counted in yet.
------------------------------------------------------------------------------------------------
drop table if exists app_private.attempt_counters;
create table app_private.attempt_counters (
  key text primary key,
  window_ends_at timestamptz not null,
  attempts int not null check (attempts >= 0)
);
create index attempt_counters_window_ends_at_idx on app_private.attempt_counters (window_ends_at);
alter table app_private.attempt_counters enable row level security;
comment on table app_private.attempt_counters is
  'Attempts per throttled key in its current window (logins, password changes, registrations). Rows whose window ended are deleted as new attempts come.';
comment on column app_private.attempt_counters.key is
  '<scope>:<subject> from app_private.throttle_key, e.g. login-email:lou@example.com or registration-address:203.0.113.9.';
comment on column app_private.attempt_counters.window_ends_at is 'When the current window ends; the next attempt after it starts a new window.';
comment on column app_private.attempt_counters.attempts is 'Attempts reserved in the current window (refused attempts are not counted).';

create or replace function app_private.throttle_key(scope text, subject text) returns text
  language sql immutable parallel safe
  as $$ select scope || ':' || lower(subject) $$;
comment on function app_private.throttle_key(text, text) is
  'The counter key of a throttled subject: lower-cased, so that every case variant of an e-mail shares one counter (the same lower() that finds the account).';

create or replace function app_private.reserve_attempts(keys text[], max_attempts int[], window_seconds int) returns int
  language plpgsql volatile
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  wait int;
begin
  -- Forget a few counters whose window ended (skipping rows another transaction holds), so the
  -- table holds about the counters of the current windows and never grows without bound.
  delete from app_private.attempt_counters
   where key in (select c.key from app_private.attempt_counters c where c.window_ends_at <= now()
                  order by c.window_ends_at limit 16 for update skip locked);
  -- Check and count in one statement: the row lock makes parallel attempts on one key queue, and
  -- each sees the count of the ones before it. Keys are taken in order, so callers cannot deadlock.
  with wanted as (
    select k.key, k.max_attempts from unnest(keys, max_attempts) as k(key, max_attempts)
  ), counted as (
    insert into app_private.attempt_counters as c (key, window_ends_at, attempts)
    select w.key, now() + make_interval(secs => window_seconds), 1 from wanted w order by w.key
    on conflict (key) do update set
      window_ends_at = case when c.window_ends_at <= now() then excluded.window_ends_at else c.window_ends_at end,
      attempts = case when c.window_ends_at <= now() then 1 else c.attempts + 1 end
    returning c.key, c.window_ends_at, c.attempts
  )
  select max(ceil(extract(epoch from counted.window_ends_at - now())))::int into wait
    from counted join wanted using (key)
   where counted.attempts > wanted.max_attempts;
  if wait is null then
    return 0;
  end if;
  -- Refused: all or nothing, the attempt counts under none of its keys.
  update app_private.attempt_counters set attempts = attempts - 1 where key = any(keys);
  return greatest(wait, 1);
end;
$$;
comment on function app_private.reserve_attempts(text[], int[], int) is
  'Reserves one attempt under every key (keys[i] allows max_attempts[i] per window of window_seconds), atomically: returns 0 when reserved, else the seconds until the latest blocking window ends (and counts nothing). Cleans a few expired counters on the way.';

create or replace function app_private.login_candidate(email text)
  returns table (user_id int, password_hash text, credential_version int)
  language sql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  select u.id, s.password_hash, s.credential_version
    from public.users u join app_private.user_secrets s on s.user_id = u.id
   where lower(u.email) = lower(login_candidate.email)
$$;
comment on function app_private.login_candidate(text) is
  'The user, password hash and credential version for a login e-mail, so Node can check the password with bcrypt and open the session with the credential it checked.';

create or replace function app_private.begin_login(
  email text, client_address text, max_failures_per_email int, max_attempts_per_address int, window_seconds int
) returns table (retry_after int, user_id int, password_hash text, credential_version int)
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  retry_after := app_private.reserve_attempts(
    array[app_private.throttle_key('login-email', email), app_private.throttle_key('login-address', client_address)],
    array[max_failures_per_email, max_attempts_per_address], window_seconds);
  if retry_after = 0 then
    select c.user_id, c.password_hash, c.credential_version into user_id, password_hash, credential_version
      from app_private.login_candidate(email) c;
  end if;
  return next;
end;
$$;
comment on function app_private.begin_login(text, text, int, int, int) is
  'First step of a login, before bcrypt: reserves an attempt for the e-mail (max_failures_per_email) and for the client address (max_attempts_per_address) in the window, then returns the candidate (no user for an unknown e-mail). retry_after > 0: refused, nothing counted. Every attempt counts as a failure until finish_login proves it was not one.';

create or replace function app_private.open_session(
  user_id int, credential_version int, refresh_token_hash bytea, refresh_ttl interval
) returns uuid
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  with s as (
    insert into app_private.sessions (user_id, credential_version)
    select u.id, sec.credential_version
      from public.users u
      join public.tenants t on t.id = u.tenant_id
      join app_private.user_secrets sec on sec.user_id = u.id
     where u.id = open_session.user_id and u.is_active and t.is_active
       and sec.credential_version = open_session.credential_version
    returning id
  ), t as (
    insert into app_private.refresh_tokens (token_hash, session_id, expires_at)
    select refresh_token_hash, s.id, now() + refresh_ttl from s
  )
  select id from s
$$;
comment on function app_private.open_session(int, int, bytea, interval) is
  'Starts a session with its first refresh token, bound to the credential version the password was checked against; NULL (no session) when the user or tenant is inactive or the password changed since. A session committed just before such a change is dead on arrival: session_role compares versions.';

create or replace function app_private.finish_login(
  user_id int, credential_version int, email text, client_address text, refresh_token_hash bytea, refresh_ttl interval
) returns uuid
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  session_id uuid := app_private.open_session(finish_login.user_id, finish_login.credential_version, refresh_token_hash, refresh_ttl);
begin
  if session_id is null then
    return null; -- inactive, or the password changed while bcrypt ran: a failure, and counted as one
  end if;
  update public.users u set last_login = now() where u.id = finish_login.user_id;
  -- The right password: the e-mail's failures are forgiven, and the address gets its attempt back
  -- (only this one: a success must not wipe the failures others made from the same address).
  -- Both counters are locked in key order first, as reserve_attempts takes them: no deadlock.
  perform 1 from app_private.attempt_counters c
   where c.key in (app_private.throttle_key('login-email', email), app_private.throttle_key('login-address', client_address))
   order by c.key for update;
  delete from app_private.attempt_counters where key = app_private.throttle_key('login-email', email);
  update app_private.attempt_counters set attempts = greatest(attempts - 1, 0)
   where key = app_private.throttle_key('login-address', client_address);
  return session_id;
end;
$$;
comment on function app_private.finish_login(int, int, text, text, bytea, interval) is
  'Last step of a login whose password bcrypt accepted: opens the session (see open_session), records last_login, clears the e-mail''s failure counter and refunds the address its one attempt. NULL when no session could open (the attempt stays counted as a failure).';

create or replace function app_private.begin_registration(
  email text, client_address text, max_per_address int, max_per_email int, window_seconds int
) returns int
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  select app_private.reserve_attempts(
    array[app_private.throttle_key('registration-address', client_address), app_private.throttle_key('registration-email', email)],
    array[max_per_address, max_per_email], window_seconds)
$$;
comment on function app_private.begin_registration(text, text, int, int, int) is
  'Before bcrypt, reserves a registration for the client address and for the e-mail in the window (each creates a schema, so every attempt counts, successful or not). Returns 0 when reserved, else the seconds to wait.';

------------------------------------------------------------------------------------------------
-- Sessions bound to the credential they were opened with.
------------------------------------------------------------------------------------------------
create or replace function app_private.end_sessions(user_ids int[], reason text, keep_session uuid default null) returns void
  language sql volatile
  set search_path = pg_catalog, public, pg_temp
  as $$
  update app_private.user_secrets set credential_version = credential_version + 1 where user_id = any(user_ids);
  update app_private.sessions s set credential_version = sec.credential_version
    from app_private.user_secrets sec where s.id = keep_session and sec.user_id = s.user_id;
  update app_private.sessions set revoked_at = now(), revoked_reason = reason
   where user_id = any(user_ids) and revoked_at is null and id is distinct from keep_session;
$$;
comment on function app_private.end_sessions(int[], text, uuid) is
  'Ends every session of the users for good: raises their credential version (so even a session being opened right now is dead on arrival) and marks the open ones revoked with the reason; keep_session (the one that changed the password) moves to the new version.';

create or replace function app_private.session_role(user_id int, session_id uuid)
  returns table (tenant_id int, role public.user_role)
  language sql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  select u.tenant_id, u.role
    from app_private.sessions s
    join public.users u on u.id = s.user_id
    join public.tenants t on t.id = u.tenant_id
    join app_private.user_secrets sec on sec.user_id = u.id
   where s.id = session_role.session_id and s.user_id = session_role.user_id
     and s.revoked_at is null and s.credential_version = sec.credential_version and u.is_active and t.is_active
$$;
comment on function app_private.session_role(int, uuid) is
  'The tenant and role a session may act with now; no row when the session is revoked, was opened with a credential that has changed since, or the user or tenant is deactivated. Checked on every authenticated request, in one round trip.';

create or replace function app_private.rotate_refresh_token(old_hash bytea, new_hash bytea, refresh_ttl interval)
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
  'Exchanges an unused refresh token for a new one in the same session. A token used twice revokes its whole session (theft detection); a session revoked or opened with an outdated credential refreshes nothing.';

create or replace function app_private.begin_password_change(user_id int, max_failures int, window_seconds int)
  returns table (retry_after int, password_hash text, credential_version int)
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  retry_after := app_private.reserve_attempts(
    array[app_private.throttle_key('password-change', begin_password_change.user_id::text)], array[max_failures], window_seconds);
  if retry_after = 0 then
    select s.password_hash, s.credential_version into password_hash, credential_version
      from app_private.user_secrets s where s.user_id = begin_password_change.user_id;
  end if;
  return next;
end;
$$;
comment on function app_private.begin_password_change(int, int, int) is
  'First step of a password change, before bcrypt checks the current password: reserves an attempt for the user (max_failures per window, so a stolen access token is not an unlimited password oracle) and returns the hash and credential version to check. retry_after > 0: refused.';

create or replace function app_private.set_password(user_id int, password_hash text, session_id uuid, checked_version int) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  -- The row lock orders the changes of one user: a change that checked a password which is no
  -- longer current, or comes from a session that ended meanwhile, loses (false) and changes nothing.
  perform 1 from app_private.user_secrets s
   where s.user_id = set_password.user_id and s.credential_version = checked_version for update;
  if not found or not exists (
    select 1 from app_private.sessions s
     where s.id = set_password.session_id and s.user_id = set_password.user_id
       and s.revoked_at is null and s.credential_version = checked_version
  ) then
    return false;
  end if;
  update app_private.user_secrets s set password_hash = set_password.password_hash, password_changed_at = now()
   where s.user_id = set_password.user_id;
  perform app_private.end_sessions(array[set_password.user_id], 'password changed', set_password.session_id);
  delete from app_private.attempt_counters where key = app_private.throttle_key('password-change', set_password.user_id::text);
  return true;
end;
$$;
comment on function app_private.set_password(int, text, uuid, int) is
  'Stores a new password hash (made in Node) if the password checked (checked_version) is still the current one and the session is live; ends every other session of the user for good (see end_sessions), keeps this one, clears the user''s password-change failures. False when it lost a race: nothing changed.';

grant execute on function app_private.login_candidate(text), app_private.begin_login(text, text, int, int, int),
  app_private.open_session(int, int, bytea, interval), app_private.finish_login(int, int, text, text, bytea, interval),
  app_private.begin_registration(text, text, int, int, int), app_private.begin_password_change(int, int, int),
  app_private.set_password(int, text, uuid, int) to stoflow_auth;

------------------------------------------------------------------------------------------------
-- Deactivation revokes for good: reactivating an account does not revive its old tokens.
------------------------------------------------------------------------------------------------
create or replace function app_private.tg__end_sessions_on_deactivation() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  if tg_table_name = 'users' then
    perform app_private.end_sessions(array[new.id], 'user deactivated');
  else
    perform app_private.end_sessions(array(select u.id from public.users u where u.tenant_id = new.id), 'tenant deactivated');
  end if;
  return null;
end;
$$;
comment on function app_private.tg__end_sessions_on_deactivation() is
  'Trigger on users and tenants: deactivating a user ends their sessions, deactivating a tenant the sessions of all its users, for good (a later reactivation revives none of them).';
drop trigger if exists _300_end_sessions_on_deactivation on public.users;
create trigger _300_end_sessions_on_deactivation after update of is_active on public.users
  for each row when (old.is_active and not new.is_active)
  execute function app_private.tg__end_sessions_on_deactivation();
drop trigger if exists _300_end_sessions_on_deactivation on public.tenants;
create trigger _300_end_sessions_on_deactivation after update of is_active on public.tenants
  for each row when (old.is_active and not new.is_active)
  execute function app_private.tg__end_sessions_on_deactivation();

------------------------------------------------------------------------------------------------
-- Every tenant keeps an active admin, also when admins demote each other at the same moment.
------------------------------------------------------------------------------------------------
create or replace function app_private.tg_users__protect_admins() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
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
                   and u.role = 'admin' and u.is_active) then
      raise exception 'The last active admin of a tenant cannot be removed, deactivated or demoted' using errcode = 'SFADM';
    end if;
  end if;
  return coalesce(new, old);
end;
$$;

------------------------------------------------------------------------------------------------
-- Usage is history: what limits count (platforms published to, AI credits of the month) is kept
-- in a ledger written by the insert triggers, so deleting a product (whose publication history and
-- AI log go with it) gives nothing back. Active products stay a live count: archiving or deleting
-- a product does free its slot.
------------------------------------------------------------------------------------------------
create table if not exists app_private.platform_usage (
  tenant_id int not null references public.tenants on delete cascade,
  platform varchar(50) not null,
  first_used_at timestamptz not null default now(),
  primary key (tenant_id, platform)
);
alter table app_private.platform_usage enable row level security;
comment on table app_private.platform_usage is
  'Usage ledger: every platform a tenant has published to (or tried to), kept when the products and their history are deleted. The platform limit counts these rows.';
comment on column app_private.platform_usage.tenant_id is 'The tenant.';
comment on column app_private.platform_usage.platform is 'The platform (vinted, ebay, …).';
comment on column app_private.platform_usage.first_used_at is 'When the tenant first published to it.';

create table if not exists app_private.ai_credit_usage (
  tenant_id int not null references public.tenants on delete cascade,
  month date not null check (extract(day from month) = 1),
  credits_used int not null check (credits_used >= 0),
  primary key (tenant_id, month)
);
alter table app_private.ai_credit_usage enable row level security;
comment on table app_private.ai_credit_usage is
  'Usage ledger: AI generations not served from cache, per tenant and calendar month (UTC), kept when the products and their AI log are deleted. The AI credit limit reads this count.';
comment on column app_private.ai_credit_usage.tenant_id is 'The tenant.';
comment on column app_private.ai_credit_usage.month is 'First day of the calendar month (UTC).';
comment on column app_private.ai_credit_usage.credits_used is 'Credits used in that month.';

create or replace function app_private.usage_month() returns date
  language sql stable parallel safe
  as $$ select date_trunc('month', now() at time zone 'UTC')::date $$;
comment on function app_private.usage_month() is 'The calendar month (UTC) AI credits are counted in now, as its first day.';

create or replace function app_private.tenant_usage(
  tenant public.tenants, out active_products int, out platforms text[], out ai_credits_used int
)
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  select app_private.count_in_tenant(tenant.schema_name, 'select count(*) from {schema}.products where is_active'),
         coalesce((select array_agg(p.platform::text order by p.platform) from app_private.platform_usage p
                    where p.tenant_id = tenant.id), '{}'),
         coalesce((select a.credits_used from app_private.ai_credit_usage a
                    where a.tenant_id = tenant.id and a.month = app_private.usage_month()), 0)
$$;
comment on function app_private.tenant_usage(public.tenants) is
  'A tenant''s usage of its limits, the one source the limit triggers, current_tenant_usage and change_subscription_tier read: active products (live), platforms used and AI credits used this month (from the usage ledger). Limit checks call it after locking the tenant, in a new statement.';

create or replace function app_private.tg_products__enforce_product_limit() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  t public.tenants := app_private.locked_tenant(tg_table_schema);
  used record;
begin
  if t.id is null or t.max_products is null or (tg_op = 'UPDATE' and old.is_active) then
    return new;
  end if;
  select * into used from app_private.tenant_usage(t);
  if used.active_products >= t.max_products then
    raise exception 'Product limit reached: the % tier allows % active products and % are in use',
      t.subscription_tier, t.max_products, used.active_products using errcode = 'SFLIM';
  end if;
  return new;
end;
$$;

create or replace function app_private.tg_publications_history__enforce_platform_limit() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  t public.tenants := app_private.locked_tenant(tg_table_schema);
  used record;
begin
  if t.id is null then
    return new;
  end if;
  if t.max_platforms is not null then
    select * into used from app_private.tenant_usage(t);
    if not (new.platform = any(used.platforms)) and cardinality(used.platforms) >= t.max_platforms then
      raise exception 'Platform limit reached: the % tier allows % platforms and % are in use (%)',
        t.subscription_tier, t.max_platforms, cardinality(used.platforms), array_to_string(used.platforms, ', ')
        using errcode = 'SFLIM';
    end if;
  end if;
  -- Recorded on every tier: a later downgrade must see it.
  insert into app_private.platform_usage (tenant_id, platform) values (t.id, new.platform) on conflict do nothing;
  return new;
end;
$$;
comment on function app_private.tg_publications_history__enforce_platform_limit() is
  'Trigger: refuses publishing to a new platform beyond the tenant''s max_platforms, and records the platform in the usage ledger (app_private.platform_usage).';

create or replace function app_private.tg_ai_generations_log__enforce_ai_credits() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  t public.tenants := app_private.locked_tenant(tg_table_schema);
  used record;
begin
  if t.id is null or new.was_cached then
    return new;
  end if;
  select * into used from app_private.tenant_usage(t);
  if used.ai_credits_used >= t.ai_credits_monthly then
    raise exception 'AI credit limit reached: the % tier allows % generations a month and % are used this month',
      t.subscription_tier, t.ai_credits_monthly, used.ai_credits_used using errcode = 'SFLIM';
  end if;
  insert into app_private.ai_credit_usage as a (tenant_id, month, credits_used)
    values (t.id, app_private.usage_month(), 1)
    on conflict (tenant_id, month) do update set credits_used = a.credits_used + 1;
  return new;
end;
$$;
comment on function app_private.tg_ai_generations_log__enforce_ai_credits() is
  'Trigger: refuses an AI generation not served from cache beyond the month''s credits, and counts it in the usage ledger (app_private.ai_credit_usage).';

create or replace function public.current_tenant_usage() returns public.tenant_usage
  language plpgsql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  t public.tenants;
  used record;
begin
  select * into t from public.tenants where id = app_private.current_tenant_id();
  if not found then
    return null;
  end if;
  select * into used from app_private.tenant_usage(t);
  return (t.subscription_tier, used.active_products, t.max_products, cardinality(used.platforms), t.max_platforms,
          used.ai_credits_used, t.ai_credits_monthly, greatest(t.ai_credits_monthly - used.ai_credits_used, 0))::public.tenant_usage;
end;
$$;
comment on function public.current_tenant_usage() is
  'Usage of the signed-in tenant against its limits: active products, platforms ever published to, AI credits used and remaining this month (UTC). Deleting products does not lower the platforms or credits used.';

create or replace function public.change_subscription_tier(new_tier text) returns public.subscriptions
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  t public.tenants;
  target public.tiers;
  used record;
  opened public.subscriptions;
begin
  select * into t from public.tenants where id = app_private.current_tenant_id() for update;
  select * into target from public.tiers where id = new_tier;
  if target.id is null then
    raise exception 'Unknown subscription tier "%"', new_tier using errcode = '22023';
  elsif target.id = t.subscription_tier then
    raise exception 'The tenant is already on the % tier', target.id using errcode = '22023';
  elsif t.subscription_status <> 'active' then
    raise exception 'The tenant''s subscription is %: its tier cannot change', t.subscription_status using errcode = 'SFSUS';
  end if;
  select * into used from app_private.tenant_usage(t);
  if used.active_products > target.max_products then
    raise exception 'Cannot move to the % tier: it allows % active products and % are active; archive some first',
      target.id, target.max_products, used.active_products using errcode = 'SFLIM';
  elsif cardinality(used.platforms) > target.max_platforms then
    raise exception 'Cannot move to the % tier: it allows % platforms and % are in use',
      target.id, target.max_platforms, cardinality(used.platforms) using errcode = 'SFLIM';
  end if;
  update public.subscriptions set end_date = now(), status = 'expired' where tenant_id = t.id and end_date is null;
  insert into public.subscriptions (tenant_id, tier, price_monthly) values (t.id, target.id, target.price_monthly)
    returning * into opened;
  update public.tenants set subscription_tier = target.id where id = t.id;
  return opened;
end;
$$;

-- Existing tenants: their ledger starts from the history they still have. A tenant DDL step, so
-- that tenants are backfilled in batches (npm run migrate), never one transaction over every
-- schema; re-running it never lowers a count. New tenants replay it on empty tables.
select app_private.add_tenant_ddl_step('usage ledger backfill', $step$
insert into app_private.platform_usage (tenant_id, platform, first_used_at)
  select app_private.tenant_id_of_schema('{schema}'), h.platform, min(h.created_at)
    from {schema}.publications_history h
   where app_private.tenant_id_of_schema('{schema}') is not null
   group by h.platform
  on conflict do nothing;
insert into app_private.ai_credit_usage as a (tenant_id, month, credits_used)
  select app_private.tenant_id_of_schema('{schema}'), date_trunc('month', l.created_at at time zone 'UTC')::date, count(*)
    from {schema}.ai_generations_log l
   where not l.was_cached and app_private.tenant_id_of_schema('{schema}') is not null
   group by 2
  on conflict (tenant_id, month) do update set credits_used = greatest(a.credits_used, excluded.credits_used);
$step$);

------------------------------------------------------------------------------------------------
-- Money is a finite number: numeric accepts 'NaN', which passes `>= 0` (NaN sorts above every
-- number) and turns every total into NaN. `< 'Infinity'` refuses NaN and +Infinity, `>= 0`
-- refuses -Infinity (numeric(p, s) already refuses infinities; the check says it in one place).
------------------------------------------------------------------------------------------------
alter table public.tiers drop constraint if exists tiers_price_monthly_check,
  add constraint tiers_price_monthly_check check (price_monthly >= 0 and price_monthly < 'Infinity');
alter table public.subscriptions drop constraint if exists subscriptions_price_monthly_check,
  add constraint subscriptions_price_monthly_check check (price_monthly >= 0 and price_monthly < 'Infinity');

select app_private.add_tenant_ddl_step('money is a finite number', $step$
-- NaN stored before this step carries no amount: an optional amount becomes unknown (NULL); a
-- product's price cannot, so the product is archived at price 0 for the seller to price again.
do $repair$
begin
  if exists (select 1 from {schema}.products where price = 'NaN' or cost_price = 'NaN') then
    update {schema}.products set cost_price = null where cost_price = 'NaN';
    update {schema}.products set price = 0, is_active = false where price = 'NaN';
  end if;
  if exists (select 1 from {schema}.vinted_products where price_vinted = 'NaN') then
    update {schema}.vinted_products set price_vinted = null where price_vinted = 'NaN';
  end if;
  if exists (select 1 from {schema}.ai_generations_log where cost = 'NaN') then
    update {schema}.ai_generations_log set cost = null where cost = 'NaN';
  end if;
end
$repair$;
alter table {schema}.products
  drop constraint products_price_check, add constraint products_price_check check (price >= 0 and price < 'Infinity'),
  drop constraint products_cost_price_check, add constraint products_cost_price_check check (cost_price >= 0 and cost_price < 'Infinity');
alter table {schema}.vinted_products drop constraint vinted_products_price_vinted_check,
  add constraint vinted_products_price_vinted_check check (price_vinted >= 0 and price_vinted < 'Infinity');
alter table {schema}.ai_generations_log drop constraint ai_generations_log_cost_check,
  add constraint ai_generations_log_cost_check check (cost >= 0 and cost < 'Infinity');
$step$);

------------------------------------------------------------------------------------------------
-- Tenant deletion cannot deadlock with the tenant's writers. Writers lock a table, then the
-- tenant row (limit triggers), and their foreign keys lock tables in both directions (a child
-- insert checks products, a product delete cascades to the children): no fixed order of the
-- deleter fits them all. So the deleter never waits long while holding anything: each attempt
-- takes the tables (children first), the users, then the tenant row, every wait bounded by
-- lock_timeout (well under deadlock_timeout); a wait that times out undoes the attempt, which is
-- retried after a short random pause. Writers are never the victim of a deadlock with it.
------------------------------------------------------------------------------------------------
create or replace function public.delete_tenant(confirm_name text) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  set lock_timeout = '100ms'
  as $$
declare
  t public.tenants;
  attempts int := 0;
begin
  select * into t from public.tenants where id = app_private.current_tenant_id();
  if not found then
    raise exception 'No such tenant: it was deleted' using errcode = 'P0002';
  elsif confirm_name is distinct from t.name then
    raise exception 'To delete the tenant, confirm with its exact name' using errcode = '22023';
  end if;
  loop
    begin
      execute format('lock table %1$I.publications_history, %1$I.ai_generations_log, %1$I.vinted_products, %1$I.products in access exclusive mode',
                     t.schema_name);
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
comment on function public.delete_tenant(text) is
  'Deletes the signed-in admin''s tenant in one transaction: its schema and every row, its users, sessions, subscriptions and usage. confirm_name must be the tenant''s name. It waits for the tenant''s writers without ever deadlocking them; after about five seconds of constant traffic it gives up with CONFLICT (retry).';

--! Previous: sha1:68c4b1158a71d1de0a8736767fdc324eb37ece91
--! Hash: sha1:75df2ee7134225dafb445e098556d916a2f01824
--! Message: Sign-in from a known address is not locked out by guesses from elsewhere

-- Enter migration here (idempotent while it is current.sql)

------------------------------------------------------------------------------------------------
-- Sign-in from a known address is not locked out by guesses from elsewhere.
-- Before: 5 wrong passwords for an e-mail, from anywhere, refused its owner for the window too, so
-- anyone who knew an address could keep its owner out with 5 requests every 15 minutes. Now an
-- address that signed in to the account lately (with the current password) counts its own
-- failures apart; the e-mail's shared counter holds every other address (the botnet's budget).
------------------------------------------------------------------------------------------------
create table if not exists app_private.login_known_addresses (
  user_id int not null references public.users on delete cascade,
  address_hash bytea not null,
  credential_version int not null,
  signed_in_at timestamptz not null default now(),
  primary key (user_id, address_hash)
);
alter table app_private.login_known_addresses enable row level security;
comment on table app_private.login_known_addresses is
  'Client addresses that signed in to an account, with the credential they proved: begin_login counts their wrong passwords apart from the e-mail''s shared counter, so guesses from elsewhere cannot lock the owner out. Written by finish_login only.';
comment on column app_private.login_known_addresses.user_id is 'The account signed in to.';
comment on column app_private.login_known_addresses.address_hash is 'sha256 of the lower-cased client address (the address itself is not kept).';
comment on column app_private.login_known_addresses.credential_version is 'The credential version the sign-in proved: after a password change or any credential event, the address is known no more.';
comment on column app_private.login_known_addresses.signed_in_at is 'The latest successful sign-in from the address; older than the caller''s known_for_days, it is known no more.';

create or replace function app_private.address_hash(client_address text) returns bytea
  language sql immutable parallel safe
  as $$ select sha256(convert_to(lower(client_address), 'UTF8')) $$;
comment on function app_private.address_hash(text) is
  'How login_known_addresses keeps a client address: sha256 of its lower-cased text.';

create or replace function app_private.login_address_known(email text, client_address text, known_for_days int) returns boolean
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  select exists (
    select 1
      from public.users u
      join app_private.user_secrets s on s.user_id = u.id
      join app_private.login_known_addresses k on k.user_id = u.id and k.credential_version = s.credential_version
     where lower(u.email) = lower(login_address_known.email)
       and k.address_hash = app_private.address_hash(client_address)
       and k.signed_in_at > now() - make_interval(days => known_for_days))
$$;
comment on function app_private.login_address_known(text, text, int) is
  'True when the client address signed in to the account of this e-mail within known_for_days, with its current credential.';

create or replace function app_private.login_failure_key(email text, client_address text, known_for_days int) returns text
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  select case when app_private.login_address_known(email, client_address, known_for_days)
    then app_private.throttle_key('login-known-address', email || ' ' || client_address)
    else app_private.throttle_key('login-email', email) end
$$;
comment on function app_private.login_failure_key(text, text, int) is
  'The counter of wrong passwords a sign-in attempt falls under: its own (login-known-address:<email> <address>) for an address known to the account, else the e-mail''s shared one (login-email:<email>).';

drop function if exists app_private.begin_login(text, text, int, int, int);
create or replace function app_private.begin_login(
  email text, client_address text, max_failures_per_email int, max_attempts_per_address int, window_seconds int,
  known_for_days int
) returns table (retry_after int, user_id int, password_hash text, credential_version int)
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  retry_after := app_private.reserve_attempts(
    array[app_private.login_failure_key(email, client_address, known_for_days), app_private.throttle_key('login-address', client_address)],
    array[max_failures_per_email, max_attempts_per_address], window_seconds);
  if retry_after = 0 then
    select c.user_id, c.password_hash, c.credential_version into user_id, password_hash, credential_version
      from app_private.login_candidate(email) c;
  end if;
  return next;
end;
$$;
comment on function app_private.begin_login(text, text, int, int, int, int) is
  'First step of a login, before bcrypt: reserves an attempt under the e-mail''s failure counter (login_failure_key: the address''s own when it signed in to the account within known_for_days, else the e-mail''s shared one; max_failures_per_email each) and under the client address (max_attempts_per_address) in the window, then returns the candidate (no user for an unknown e-mail). retry_after > 0: refused, nothing counted. Every attempt counts as a failure until finish_login proves it was not one.';

drop function if exists app_private.finish_login(int, int, text, text, bytea, interval);
create or replace function app_private.finish_login(
  user_id int, credential_version int, email text, client_address text, refresh_token_hash bytea, refresh_ttl interval,
  known_for_days int
) returns uuid
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  session_id uuid := app_private.open_session(finish_login.user_id, finish_login.credential_version, refresh_token_hash, refresh_ttl);
  failure_key text := app_private.login_failure_key(email, client_address, known_for_days);
begin
  if session_id is null then
    return null; -- inactive, or the password changed while bcrypt ran: a failure, and counted as one
  end if;
  update public.users u set last_login = now() where u.id = finish_login.user_id;
  -- The right password gives back this attempt only, under both keys: a success must not wipe the
  -- failures others made (from the same address, or against the e-mail from elsewhere). Both
  -- counters are locked in key order first, as reserve_attempts takes them: no deadlock.
  perform 1 from app_private.attempt_counters c
   where c.key in (failure_key, app_private.throttle_key('login-address', client_address))
   order by c.key for update;
  update app_private.attempt_counters set attempts = greatest(attempts - 1, 0)
   where key in (failure_key, app_private.throttle_key('login-address', client_address));
  if known_for_days > 0 then
    insert into app_private.login_known_addresses as k (user_id, address_hash, credential_version)
    values (finish_login.user_id, app_private.address_hash(client_address), finish_login.credential_version)
    on conflict on constraint login_known_addresses_pkey do update
      set credential_version = excluded.credential_version, signed_in_at = now();
    delete from app_private.login_known_addresses k
     where k.user_id = finish_login.user_id
       and (k.signed_in_at <= now() - make_interval(days => known_for_days) or k.credential_version <> finish_login.credential_version);
  end if;
  return session_id;
end;
$$;
comment on function app_private.finish_login(int, int, text, text, bytea, interval, int) is
  'Last step of a login whose password bcrypt accepted: opens the session (see open_session), records last_login, gives the attempt back under its failure counter and its address, and (known_for_days > 0) records the address as known to the account, forgetting the account''s addresses that are too old or proved an older credential. NULL when no session could open (the attempt stays counted as a failure).';

grant execute on function app_private.begin_login(text, text, int, int, int, int),
  app_private.finish_login(int, int, text, text, bytea, interval, int) to stoflow_auth;

--! Previous: sha1:f4ed9e1bfcfa5cda07757c46d03886ec55da3eeb
--! Hash: sha1:f11e203bc77a65abdab03498c295f7f0e134988e
--! Message: sudo mode, operators add members, mail of before a credential event

-- Enter migration here (idempotent while it is current.sql)

-- Issue 23, what the outside attacker found: sensitive changes need the password again (sudo
-- mode, bound to the session), members are added by operators only (invitations are the API's
-- way), mail minted later than it was asked for carries nothing of a credential event since, and
-- mail is fairer between senders.

------------------------------------------------------------------------------------------------
-- Sudo mode (GitHub's): confirming the password marks the session as re-authenticated for a
-- while; the changes a stolen access token would need to take a tenant over ask for it.
------------------------------------------------------------------------------------------------
alter table app_private.sessions add column if not exists reauthenticated_until timestamptz;
comment on column app_private.sessions.reauthenticated_until is
  'Until when the session may make sensitive changes (sudo mode): set by confirming the password (REAUTHENTICATION_TTL); null when it never did, and again after a credential event.';

create or replace function app_private.confirm_password(user_id int, session_id uuid, checked_version int, ttl interval) returns timestamptz
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  until timestamptz;
begin
  -- As for a new password: the password checked must still be the current one, the session live.
  perform 1 from app_private.user_secrets s where s.user_id = confirm_password.user_id and s.credential_version = checked_version for update;
  if not found or not app_private.session_holds(confirm_password.session_id, confirm_password.user_id, checked_version) then
    return null;
  end if;
  update app_private.sessions s set reauthenticated_until = now() + ttl
   where s.id = confirm_password.session_id returning s.reauthenticated_until into until;
  delete from app_private.attempt_counters where key = app_private.throttle_key('password-change', confirm_password.user_id::text);
  return until;
end;
$$;
comment on function app_private.confirm_password(int, uuid, int, interval) is
  'The signed-in user confirmed their password (checked in Node under checked_version): the session may make sensitive changes until now() + ttl (sudo mode), which it returns; the user''s password-change failures are cleared. Null when the password or the session changed meanwhile (nothing changed).';
revoke all on function app_private.confirm_password(int, uuid, int, interval) from public;
grant execute on function app_private.confirm_password(int, uuid, int, interval) to stoflow_auth;

create or replace function app_private.require_reauthentication(action text) returns void
  language plpgsql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  session_id uuid := nullif(current_setting('jwt.claims.session_id', true), '')::uuid;
  until timestamptz;
begin
  -- Operators (the database owner, the CLI) and the flows that act for nobody signed in
  -- (registration, an invitation accepted) have no session; an API role always has one.
  if session_id is null and coalesce(current_setting('role', true), '') not in ('stoflow_admin', 'stoflow_user', 'stoflow_viewer') then
    return;
  end if;
  select s.reauthenticated_until into until from app_private.sessions s
   where s.id = session_id and s.user_id = app_private.current_user_id() and s.revoked_at is null;
  if not found then
    -- Ended since the request began (a concurrent credential event): as the session check says.
    raise exception 'Session ended or account inactive' using errcode = 'SFSES';
  elsif until is null or until <= now() then
    raise exception '% needs your password again: confirm it (POST /api/auth/confirm-password, or confirmPassword), then retry', action
      using errcode = 'SFRAU';
  end if;
end;
$$;
comment on function app_private.require_reauthentication(text) is
  'Refuses (SQLSTATE SFRAU, REAUTHENTICATION_REQUIRED) unless the request''s session confirmed the password within REAUTHENTICATION_TTL (sudo mode); SFSES (INVALID_TOKEN) when the session ended meanwhile. action names what was refused. Operators, who act without a session, pass.';
revoke all on function app_private.require_reauthentication(text) from public;

-- Who is an active admin changes only in sudo mode: the admin role granted (an invitation made
-- or resent with it, a role raised, an admin reactivated), an admin demoted, deactivated or deleted.
create or replace function app_private.tg_users__require_reauthentication() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  was_admin boolean := case when tg_op = 'INSERT' then false else old.role = 'admin' and old.is_active end;
  is_admin boolean := case when tg_op = 'DELETE' then false else new.role = 'admin' and new.is_active end;
begin
  -- The users of a tenant being deleted go with it (deleting it asked for the password already).
  if was_admin <> is_admin and (tg_op <> 'DELETE' or exists (select 1 from public.tenants t where t.id = old.tenant_id)) then
    perform app_private.require_reauthentication(case when is_admin then 'Granting the admin role' else 'Removing an admin' end);
  end if;
  return coalesce(new, old);
end;
$$;
comment on function app_private.tg_users__require_reauthentication() is
  'Trigger on users: making someone an active admin (role raised, an admin reactivated, added) or ending an admin (demoted, deactivated, deleted) needs sudo mode (app_private.require_reauthentication).';
revoke all on function app_private.tg_users__require_reauthentication() from public;
drop trigger if exists _150_require_reauthentication on public.users;
create trigger _150_require_reauthentication before insert or update of role, is_active or delete on public.users
  for each row execute function app_private.tg_users__require_reauthentication();

create or replace function app_private.tg_invitations__require_reauthentication() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  perform app_private.require_reauthentication('Inviting an admin');
  return new;
end;
$$;
comment on function app_private.tg_invitations__require_reauthentication() is
  'Trigger on invitations: an invitation with the admin role is made, renewed or resent only in sudo mode (app_private.require_reauthentication).';
revoke all on function app_private.tg_invitations__require_reauthentication() from public;
drop trigger if exists _100_require_reauthentication on public.invitations;
create trigger _100_require_reauthentication before insert or update on public.invitations
  for each row when (new.role = 'admin') execute function app_private.tg_invitations__require_reauthentication();

-- delete_tenant, as in 000009, asking for sudo mode first.
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
  perform app_private.require_reauthentication('Deleting the tenant');
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
comment on function public.delete_tenant(text) is E'@arg confirm_name The tenant''s name, exactly: it confirms the deletion\nDeletes the signed-in admin''s tenant in one transaction: its schema and every row, its users, sessions, subscriptions and usage. confirm_name must be the tenant''s name, and the session must have confirmed the password lately (REAUTHENTICATION_REQUIRED otherwise). It waits for the tenant''s writers without ever deadlocking them; after about five seconds of constant traffic it gives up with CONFLICT (retry).';

------------------------------------------------------------------------------------------------
-- The lifecycle rule, as in 000010, also ending sudo mode with the sessions and recording when
-- the credentials last changed (mail asked for before that carries nothing).
------------------------------------------------------------------------------------------------
alter table app_private.user_secrets add column if not exists credential_changed_at timestamptz;
comment on column app_private.user_secrets.credential_changed_at is
  'When the last credential event happened (app_private.revoke_dependent_credentials); a message asked for before it is not sent. Null: none since this column exists.';

create or replace function app_private.revoke_dependent_credentials(user_ids int[], event text, keep_session uuid default null) returns void
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  -- The credential version: sessions, refresh tokens and e-mailed links minted under the old one
  -- are dead for good (even one being opened or minted right now), and so is mail asked for before now.
  update app_private.user_secrets set credential_version = credential_version + 1, credential_changed_at = now() where user_id = any(user_ids);
  update app_private.sessions s set credential_version = sec.credential_version
    from app_private.user_secrets sec where s.id = keep_session and sec.user_id = s.user_id;
  update app_private.sessions set revoked_at = now(), revoked_reason = event, reauthenticated_until = null
   where user_id = any(user_ids) and revoked_at is null and id is distinct from keep_session;
  -- A pending change of address (its links cascade) and the invitations the users issued.
  delete from app_private.email_changes where user_id = any(user_ids);
  delete from public.invitations where invited_by = any(user_ids);
$$;
comment on function app_private.revoke_dependent_credentials(int[], text, uuid) is
  'The one rule of the account lifecycle, called by every credential event (password changed or reset, address changed, user deactivated, deleted or lowered in role, tenant deactivated or deleted, a change of address refused): raises the users'' credential version, so that their sessions, refresh tokens and e-mailed links die, and records when (mail asked for before is not sent); marks the sessions revoked with the event, ending their sudo mode; drops their pending change of address and the invitations they issued. keep_session (the session that changed the password) lives on.';

------------------------------------------------------------------------------------------------
-- Members are added by operators (npm run stoflow -- users:add), not through the API: an admin
-- choosing a password at an address they do not own squatted it. Invitations are the API's way.
------------------------------------------------------------------------------------------------
drop policy if exists insert_by_admin on public.users;
revoke insert on public.users from stoflow_admin;
drop function if exists app_private.set_initial_password(int, text);
comment on table public.users is E'@behavior -insert\nA person who signs in to Stoflow. Each user belongs to one tenant. Admins invite users (inviteTeamMember); operators add them (npm run stoflow -- users:add).';

create or replace function app_private.add_team_member(tenant_id int, email text, full_name text, role public.user_role, password_hash text) returns int
  language plpgsql volatile
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  member_id int;
begin
  -- An account of this address drops its pending invitations (trigger); 23505 if the address is taken.
  insert into public.users as u (tenant_id, email, full_name, role)
    values (add_team_member.tenant_id, add_team_member.email, add_team_member.full_name, add_team_member.role)
    returning u.id into member_id;
  insert into app_private.user_secrets (user_id, password_hash) values (member_id, add_team_member.password_hash);
  return member_id;
end;
$$;
comment on function app_private.add_team_member(int, text, text, public.user_role, text) is
  'An operator adds a user to a tenant with a password hash made in Node (npm run stoflow -- users:add; the tests'' helper): no API role may call it. Returns the user''s id.';
revoke all on function app_private.add_team_member(int, text, text, public.user_role, text) from public;

------------------------------------------------------------------------------------------------
-- Mail asked for before a credential event carries nothing: the job names when it was asked
-- for, and the worker mints only for an account that had this address then and no credential
-- event since (no lookup when it is asked for: the answer's time still tells nothing). Mail is
-- fairer: each client address's requests, and each tenant's invitations, go behind the
-- earlier ones of lighter senders (graphile-worker priorities).
------------------------------------------------------------------------------------------------
drop function if exists app_private.queue_account_email(text, text);
create or replace function app_private.queue_account_email(purpose text, email text, priority int default 0) returns void
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  -- One pending message per address and purpose: a new request replaces the one not sent yet.
  select null from graphile_worker.add_job('account_email', json_build_object('purpose', purpose, 'email', email, 'requested_at', now()),
    job_key => purpose || ':' || lower(email), job_key_mode => 'replace', priority => priority)
$$;
comment on function app_private.queue_account_email(text, text, int) is
  'Queues a verify_email or reset_password message for an address (in the caller''s transaction: no mail for a rolled-back change), with the time it was asked for and a priority (0 first, up to 9; invitations come after). Whether an account fits is decided when it is sent: queuing takes the same work either way.';
revoke all on function app_private.queue_account_email(text, text, int) from public;
grant execute on function app_private.queue_account_email(text, text, int) to stoflow_auth;

create or replace function app_private.sender_share(key text) returns int
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$ select coalesce((select c.attempts from app_private.attempt_counters c where c.key = sender_share.key and c.window_ends_at > now()), 1) $$;
comment on function app_private.sender_share(text) is
  'How many attempts a throttle key counts in its current window (1 when none): the rank of a sender''s latest message, which its job''s priority follows so that a heavy sender''s mail waits behind lighter senders''.';
revoke all on function app_private.sender_share(text) from public;

create or replace function app_private.request_account_email(
  email text, purpose text, client_address text, max_per_email int, max_per_address int, window_seconds int
) returns int
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  retry_after int := app_private.reserve_attempts(
    array[app_private.throttle_key('mail-email', email), app_private.throttle_key('mail-address', client_address)],
    array[max_per_email, max_per_address], window_seconds);
begin
  -- No lookup here: the job is queued whether or not an account fits, so the answer and its time
  -- tell nothing (the worker finds the account, or sends nothing). A client's first request goes
  -- first (priority 0), its tenth and later ones at 9: a flood from a few addresses waits behind
  -- everyone else's mail.
  if retry_after = 0 then
    perform app_private.queue_account_email(purpose, email,
      least(app_private.sender_share(app_private.throttle_key('mail-address', client_address)) - 1, 9));
  end if;
  return retry_after;
end;
$$;
comment on function app_private.request_account_email(text, text, text, int, int, int) is 'Anonymous request of a verify_email (resend) or reset_password message for an address: throttled per address and per client (seconds to wait, else 0); queues the message with the same work whether or not an account fits, behind the earlier requests of the same client in the window (priority).';

drop function if exists app_private.issue_account_token(text, text, bytea, interval);
create or replace function app_private.issue_account_token(purpose text, address text, token_hash bytea, ttl interval, requested_at timestamptz)
  returns table (email text, full_name text, tenant_name text)
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  account record;
begin
  -- Whom to write, if the message still makes sense: nobody (no row) for an unknown address, a user
  -- inactive, already verified (verify_email), or whose account had no such address when it was
  -- asked for, or whose credentials changed since (a password changed or reset, deactivated…).
  select u.id, u.email, u.full_name, t.name as tenant_name, s.credential_version into account
    from public.users u join public.tenants t on t.id = u.tenant_id join app_private.user_secrets s on s.user_id = u.id
   where lower(u.email) = lower(address) and app_private.account_may_act(u, t)
     and u.created_at <= requested_at and (s.credential_changed_at is null or s.credential_changed_at < requested_at)
     and case purpose when 'reset_password' then true when 'verify_email' then u.email_verified_at is null else false end;
  if found then
    insert into app_private.user_tokens (token_hash, user_id, purpose, email, expires_at, credential_version)
      values (token_hash, account.id, purpose, account.email, now() + ttl, account.credential_version);
    email := account.email;
    full_name := nullif(account.full_name, account.tenant_name); -- a person's own name, not the shop's
    tenant_name := account.tenant_name;
    return next;
  end if;
  perform app_private.forget_expired_tokens();
end;
$$;
comment on function app_private.issue_account_token(text, text, bytea, interval, timestamptz) is 'The job worker, as it sends a verify_email or reset_password message asked for at requested_at: stores the hash of the token it carries and returns the address, the person''s own name (null when it is the shop''s) and the shop; no row when no account fits (unknown, inactive, already verified, created or whose credentials changed after it was asked for).';
revoke all on function app_private.issue_account_token(text, text, bytea, interval, timestamptz) from public;
grant execute on function app_private.issue_account_token(text, text, bytea, interval, timestamptz) to stoflow_worker;

-- Invitations: a tenant's first invitations of the window go first (priority 10), its later ones
-- behind other tenants' (never before account mail).
create or replace function app_private.queue_invitation_email(invitation public.invitations) returns void
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  -- A resent or renewed invitation's earlier links stop working: only the new message's does.
  delete from app_private.user_tokens t where t.invitation_id = invitation.id;
  select null from graphile_worker.add_job('account_email', json_build_object('purpose', 'invitation', 'invitation_id', invitation.id),
    queue_name => 'invitations:' || invitation.tenant_id, job_key => 'invitation:' || invitation.id, job_key_mode => 'replace',
    priority => 10 + app_private.sender_share(app_private.throttle_key('invitation-tenant', invitation.tenant_id::text)) - 1)
$$;
comment on function app_private.queue_invitation_email(public.invitations) is 'Queues an invitation''s message behind account mail (priority 10, plus the tenant''s invitations already sent in the window), in its tenant''s own named queue (one at a time per tenant); the links of its earlier messages stop working.';

-- The share of invitation messages an address may get counts per inviting tenant: one tenant
-- cannot use up another's (as in 000010 otherwise).
create or replace function app_private.issue_invitation_token(invitation_id int, token_hash bytea, max_per_recipient int, window_seconds int, first_attempt boolean)
  returns table (email text, tenant_name text, role text)
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  invitation record;
begin
  select i.id, i.tenant_id, i.email, i.role, i.expires_at, t.name into invitation
    from public.invitations i join public.tenants t on t.id = i.tenant_id
   where i.id = issue_invitation_token.invitation_id and app_private.invitation_may_be_accepted(i.id);
  -- Nothing to send (revoked, expired, accepted, inviter gone, or the address has an account: one
  -- account, one tenant), or this tenant sent this address its share of invitation messages in the
  -- window: dropped, silently (the admin's answer was the same anyway). A retry (the relay failed)
  -- was counted at its first attempt.
  if not found or first_attempt and app_private.reserve_attempts(
       array[app_private.throttle_key('invitation-recipient', invitation.tenant_id || ':' || invitation.email)],
       array[max_per_recipient], window_seconds) > 0 then
    return;
  end if;
  email := invitation.email;
  tenant_name := invitation.name;
  role := invitation.role;
  insert into app_private.user_tokens (token_hash, purpose, email, expires_at, invitation_id)
    values (token_hash, 'invitation', invitation.email, invitation.expires_at, invitation.id);
  return next;
end;
$$;
comment on function app_private.issue_invitation_token(int, bytea, int, int, boolean) is 'The job worker, as it sends an invitation: stores the hash of its token and returns what to write; no row (nothing sent) when it cannot be accepted (an address with an account gets nothing) or when its tenant sent this address max_per_recipient invitations in the window (counted at a job''s first attempt only).';

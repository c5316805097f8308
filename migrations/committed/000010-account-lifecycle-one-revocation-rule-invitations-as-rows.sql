--! Previous: sha1:f79e441b40f0a6de1c51a61b7300a410d97caf89
--! Hash: sha1:8776f9b74cf0d05b285979e0847afc9fe32069b6
--! Message: account lifecycle: one revocation rule, invitations as rows

-- Enter migration here (idempotent while it is current.sql)

-- Accounts as one lifecycle. A credential event revokes what hangs on it (one function,
-- app_private.revoke_dependent_credentials); invitations are rows of their own; a change of
-- address needs the password and both addresses; mail requests do the same work whether or not an
-- account fits; account mail goes before invitations, which queue per tenant; addresses are bare.

------------------------------------------------------------------------------------------------
-- addresses: a bare local@domain (the WHATWG pattern of <input type=email>, with a dot in the
-- domain): no display name, comment, route or quoted local part, so the stored address is the one
-- mail goes to. src/auth/inputs.ts (EMAIL) holds the same pattern; test/sql/email.test.ts compares.
------------------------------------------------------------------------------------------------
create or replace function app_private.is_email_address(address text) returns boolean
  language sql immutable parallel safe
  as $$ select address ~ '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$' $$;
comment on function app_private.is_email_address(text) is
  'Whether a text is a bare e-mail address, local@domain (the WHATWG pattern of <input type=email>, the domain with a dot): no display name, comment or route. The check of tenants.email, users.email and invitations.email.';
-- NOT VALID: rows stored under the looser pattern stay readable (an operator finds them with
-- `select … where not app_private.is_email_address(email)`); every new or changed address is checked.
alter table public.tenants drop constraint if exists tenants_email_check;
alter table public.tenants add constraint tenants_email_check check (app_private.is_email_address(email)) not valid;
alter table public.users drop constraint if exists users_email_check;
alter table public.users add constraint users_email_check check (app_private.is_email_address(email)) not valid;

------------------------------------------------------------------------------------------------
-- invitations: rows of their own (graphile/starter's organization_invitations). The user is
-- created when the invitation is accepted, so a pending invitation squats no address.
------------------------------------------------------------------------------------------------
create table if not exists public.invitations (
  id int generated always as identity primary key,
  tenant_id int not null default app_private.current_tenant_id() references public.tenants (id) on delete cascade,
  email varchar(255) not null constraint invitations_email_check check (app_private.is_email_address(email)),
  full_name varchar(255),
  role public.user_role not null default 'user',
  invited_by int references public.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
create unique index if not exists invitations_tenant_email_key on public.invitations (tenant_id, lower(email));
create index if not exists invitations_email_idx on public.invitations (lower(email));
create index if not exists invitations_invited_by_idx on public.invitations (invited_by);
create index if not exists invitations_expires_at_idx on public.invitations (expires_at);
alter table public.invitations enable row level security;
revoke all on public.invitations from public;
grant select on public.invitations to stoflow_viewer;
drop policy if exists select_by_admin on public.invitations;
create policy select_by_admin on public.invitations for select to stoflow_admin
  using (tenant_id = (select app_private.current_tenant_id()) and expires_at > now());
comment on table public.invitations is E'@behavior -insert -update -delete\nA pending invitation into a tenant: the invitee becomes a user when they accept it (inviteTeamMember, resendInvitation, revokeInvitation). Admins see their tenant''s pending ones; it ends when accepted, revoked, expired, when its address registers, and with any credential event of its inviter.';
comment on column public.invitations.id is 'Identifier of the invitation.';
comment on column public.invitations.tenant_id is 'The tenant the invitee joins.';
comment on column public.invitations.email is 'The address invited: the invitation goes there, and the invitee signs in with it.';
comment on column public.invitations.full_name is 'The invitee''s name, as the inviter gave it.';
comment on column public.invitations.role is 'What the invitee may do once they accept.';
comment on column public.invitations.invited_by is 'The admin who sent (or last resent) it; their credential events revoke it. Null for an invitation made before invitations were rows: resend it to send a link.';
comment on column public.invitations.created_at is 'When the invitation was made.';
comment on column public.invitations.expires_at is 'After this it cannot be accepted (INVITATION_TTL after it was sent or resent).';

insert into app_private.constraint_messages (table_name, constraint_name, field, message) values
  ('invitations', 'invitations_pkey', 'id', 'An invitation with this id already exists'),
  ('invitations', 'invitations_email_check', 'email', 'email must be an e-mail address (name@example.com)'),
  ('invitations', 'invitations_tenant_email_key', 'email', 'This address is already invited into this tenant'),
  ('invitations', 'invitations_tenant_id_fkey', 'tenantId', 'tenantId must be an existing tenant'),
  ('invitations', 'invitations_invited_by_fkey', 'invitedBy', 'invitedBy must be an existing user')
on conflict (table_name, constraint_name) do update set field = excluded.field, message = excluded.message;

-- Invited users from before: each becomes an invitation (its old link no longer works: resend).
insert into public.invitations (tenant_id, email, full_name, role, created_at, expires_at)
  select u.tenant_id, u.email, u.full_name, u.role, u.created_at, now() + interval '7 days'
    from public.users u
   where not exists (select 1 from app_private.user_secrets s where s.user_id = u.id)
  on conflict do nothing;
delete from public.users u where not exists (select 1 from app_private.user_secrets s where s.user_id = u.id);

------------------------------------------------------------------------------------------------
-- changes of address: pending until both addresses confirm (Supabase's secure e-mail change).
------------------------------------------------------------------------------------------------
create table if not exists app_private.email_changes (
  id bigint generated always as identity primary key,
  user_id int not null unique references public.users (id) on delete cascade,
  old_email varchar(255) not null,
  new_email varchar(255) not null constraint email_changes_new_email_check check (app_private.is_email_address(new_email)),
  requested_at timestamptz not null default now(),
  expires_at timestamptz not null,
  old_confirmed_at timestamptz,
  new_confirmed_at timestamptz
);
alter table app_private.email_changes enable row level security;
comment on table app_private.email_changes is 'A change of sign-in address asked for with the password: it takes effect once both the old and the new address confirmed it. One per user; readable by no API role.';
comment on column app_private.email_changes.id is 'Identifier of the change; the tokens of its two messages reference it.';
comment on column app_private.email_changes.user_id is 'The user whose address changes.';
comment on column app_private.email_changes.old_email is 'The address it moves from, where the second confirmation (and the "this was not me" link) goes.';
comment on column app_private.email_changes.new_email is 'The address it moves to.';
comment on column app_private.email_changes.requested_at is 'When it was asked for.';
comment on column app_private.email_changes.expires_at is 'After this its links answer TOKEN_EXPIRED (CHANGE_EMAIL_TOKEN_TTL).';
comment on column app_private.email_changes.old_confirmed_at is 'When the old address confirmed.';
comment on column app_private.email_changes.new_confirmed_at is 'When the new address confirmed.';

------------------------------------------------------------------------------------------------
-- e-mailed tokens: bound to the credential version they were minted under (any credential event
-- raises it), to the invitation or the change of address they act on.
------------------------------------------------------------------------------------------------
alter table app_private.user_tokens add column if not exists credential_version int;
alter table app_private.user_tokens add column if not exists invitation_id int references public.invitations (id) on delete set null;
alter table app_private.user_tokens add column if not exists email_change_id bigint references app_private.email_changes (id) on delete cascade;
alter table app_private.user_tokens alter column user_id drop not null;
-- Tokens of before are bound to nothing: they stop working (ask for a new message).
delete from app_private.user_tokens where credential_version is null and (purpose <> 'invitation' or invitation_id is null);
alter table app_private.user_tokens drop constraint if exists user_tokens_bound_check;
alter table app_private.user_tokens add constraint user_tokens_bound_check check (case purpose
  when 'invitation' then user_id is null and credential_version is null
  when 'change_email' then user_id is not null and credential_version is not null and email_change_id is not null
  else user_id is not null and credential_version is not null end);
create index if not exists user_tokens_invitation_id_idx on app_private.user_tokens (invitation_id);
create index if not exists user_tokens_email_change_id_idx on app_private.user_tokens (email_change_id);
comment on column app_private.user_tokens.user_id is 'The user the token acts for (none for an invitation: the user is created when it is accepted).';
comment on column app_private.user_tokens.email is 'The address the token was sent to (for change_email, the old or the new address of the change).';
comment on column app_private.user_tokens.credential_version is 'The user''s credential version when the token was minted: any credential event raises it, and the token is then TOKEN_INVALID.';
comment on column app_private.user_tokens.invitation_id is 'The invitation an invitation token accepts; null once the invitation was accepted, revoked or dropped.';
comment on column app_private.user_tokens.email_change_id is 'The change of address a change_email token confirms (or, sent to the old address, cancels).';

------------------------------------------------------------------------------------------------
-- The lifecycle: one function that every credential event calls.
------------------------------------------------------------------------------------------------
create or replace function app_private.revoke_dependent_credentials(user_ids int[], event text, keep_session uuid default null) returns void
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  -- The credential version: sessions, refresh tokens and e-mailed links minted under the old one
  -- are dead for good (even one being opened or minted right now).
  update app_private.user_secrets set credential_version = credential_version + 1 where user_id = any(user_ids);
  update app_private.sessions s set credential_version = sec.credential_version
    from app_private.user_secrets sec where s.id = keep_session and sec.user_id = s.user_id;
  update app_private.sessions set revoked_at = now(), revoked_reason = event
   where user_id = any(user_ids) and revoked_at is null and id is distinct from keep_session;
  -- A pending change of address (its links cascade) and the invitations the users issued.
  delete from app_private.email_changes where user_id = any(user_ids);
  delete from public.invitations where invited_by = any(user_ids);
$$;
comment on function app_private.revoke_dependent_credentials(int[], text, uuid) is
  'The one rule of the account lifecycle, called by every credential event (password changed or reset, address changed, user deactivated, deleted or lowered in role, tenant deactivated or deleted, a change of address refused): raises the users'' credential version, so that their sessions, refresh tokens and e-mailed links die; marks the sessions revoked with the event; drops their pending change of address and the invitations they issued. keep_session (the session that changed the password) lives on.';
revoke all on function app_private.revoke_dependent_credentials(int[], text, uuid) from public;

create or replace function app_private.role_rank(role public.user_role) returns int
  language sql immutable parallel safe
  as $$ select array_position(array['viewer', 'user', 'admin']::public.user_role[], role) $$;
comment on function app_private.role_rank(public.user_role) is 'How much a role may do: viewer 1, user 2, admin 3 (a lower rank is a credential event).';
revoke all on function app_private.role_rank(public.user_role) from public;

create or replace function app_private.tg_users__revoke_credentials() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  event text := case
    when tg_op = 'DELETE' then 'user deleted'
    when old.is_active and not new.is_active then 'user deactivated'
    when app_private.role_rank(new.role) < app_private.role_rank(old.role) then 'role lowered'
    when lower(new.email) <> lower(old.email) then 'address changed'
  end;
begin
  if event is not null then -- (a role raised is no event: the next refresh carries it)
    perform app_private.revoke_dependent_credentials(array[old.id], event);
  end if;
  return coalesce(new, old);
end;
$$;
comment on function app_private.tg_users__revoke_credentials() is
  'Trigger on users: deactivating, deleting, lowering the role or changing the address of a user is a credential event (app_private.revoke_dependent_credentials).';
drop trigger if exists _300_end_sessions_on_deactivation on public.users;
drop trigger if exists _300_revoke_credentials on public.users;
create trigger _300_revoke_credentials after update of is_active, role, email on public.users
  for each row when (old.is_active and not new.is_active or new.role <> old.role or lower(new.email) <> lower(old.email))
  execute function app_private.tg_users__revoke_credentials();
drop trigger if exists _300_revoke_credentials_on_delete on public.users;
create trigger _300_revoke_credentials_on_delete before delete on public.users
  for each row execute function app_private.tg_users__revoke_credentials();

create or replace function app_private.tg_tenants__revoke_credentials() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  perform app_private.revoke_dependent_credentials(array(select u.id from public.users u where u.tenant_id = new.id), 'tenant deactivated');
  return null;
end;
$$;
comment on function app_private.tg_tenants__revoke_credentials() is
  'Trigger on tenants: deactivating a tenant is a credential event of every one of its users (deleting it deletes them, each an event of its own).';
drop trigger if exists _300_end_sessions_on_deactivation on public.tenants;
drop trigger if exists _300_revoke_credentials on public.tenants;
create trigger _300_revoke_credentials after update of is_active on public.tenants
  for each row when (old.is_active and not new.is_active)
  execute function app_private.tg_tenants__revoke_credentials();
drop function if exists app_private.tg__end_sessions_on_deactivation();

create or replace function app_private.set_password(user_id int, password_hash text, session_id uuid, checked_version int) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  -- The row lock orders the changes of one user: a change that checked a password which is no
  -- longer current, or comes from a session that ended meanwhile, loses (false) and changes nothing.
  perform 1 from app_private.user_secrets s
   where s.user_id = set_password.user_id and s.credential_version = checked_version for update;
  if not found or not app_private.session_holds(set_password.session_id, set_password.user_id, checked_version) then
    return false;
  end if;
  update app_private.user_secrets s set password_hash = set_password.password_hash, password_changed_at = now()
   where s.user_id = set_password.user_id;
  perform app_private.revoke_dependent_credentials(array[set_password.user_id], 'password changed', set_password.session_id);
  delete from app_private.attempt_counters where key = app_private.throttle_key('password-change', set_password.user_id::text);
  return true;
end;
$$;
comment on function app_private.set_password(int, text, uuid, int) is
  'Stores a new password hash (made in Node) if the password checked (checked_version) is still the current one and the session is live: a credential event (app_private.revoke_dependent_credentials) that keeps this session; clears the user''s password-change failures. False when it lost a race: nothing changed.';

create or replace function app_private.session_holds(session_id uuid, user_id int, checked_version int) returns boolean
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  select exists (select 1 from app_private.sessions s
                  where s.id = session_holds.session_id and s.user_id = session_holds.user_id
                    and s.revoked_at is null and s.credential_version = checked_version)
$$;
comment on function app_private.session_holds(uuid, int, int) is
  'Whether a session of the user is live and was opened under the credential version its password check read (a sensitive change made by it is still its own to make).';
revoke all on function app_private.session_holds(uuid, int, int) from public;
drop function if exists app_private.end_sessions(int[], text, uuid);

-- An account that registers (or is added) drops the pending invitations of its address: one
-- account, one tenant, and the owner of an address always gets in.
create or replace function app_private.tg_users__drop_invitations() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  delete from public.invitations where lower(email) = lower(new.email);
  return null;
end;
$$;
comment on function app_private.tg_users__drop_invitations() is
  'Trigger on users: an address that becomes an account''s (registration, a member added, a change of address, an invitation accepted) is invited no more.';
drop trigger if exists _400_drop_invitations on public.users;
create trigger _400_drop_invitations after insert or update of email on public.users
  for each row execute function app_private.tg_users__drop_invitations();

-- Every admin who counts has a password now (invited people are not users): the clause about
-- invited admins is gone.
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
                   and u.role = 'admin' and u.is_active) then
      raise exception 'The last active admin of a tenant cannot be removed, deactivated or demoted' using errcode = 'SFADM';
    end if;
  end if;
  return coalesce(new, old);
end;
$function$;

------------------------------------------------------------------------------------------------
-- The mail queue: account mail (verification, reset, change of address) at priority 0;
-- invitations at priority 10 in a named queue per tenant (graphile-worker runs a named queue's
-- jobs one at a time), so one tenant's burst holds at most one worker and never delays another
-- tenant's account mail.
------------------------------------------------------------------------------------------------
drop function if exists app_private.queue_account_email(int, text, text);
create or replace function app_private.queue_account_email(purpose text, email text) returns void
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  -- One pending message per address and purpose: a new request replaces the one not sent yet.
  select null from graphile_worker.add_job('account_email', json_build_object('purpose', purpose, 'email', email),
    job_key => purpose || ':' || lower(email), job_key_mode => 'replace', priority => 0)
$$;
comment on function app_private.queue_account_email(text, text) is
  'Queues a verify_email or reset_password message for an address (in the caller''s transaction: no mail for a rolled-back change). Whether an account fits is decided when it is sent: queuing takes the same work either way.';
revoke all on function app_private.queue_account_email(text, text) from public;
grant execute on function app_private.queue_account_email(text, text) to stoflow_auth;

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
  -- tell nothing (the worker finds the account, or sends nothing).
  if retry_after = 0 then
    perform app_private.queue_account_email(purpose, email);
  end if;
  return retry_after;
end;
$$;
comment on function app_private.request_account_email(text, text, text, int, int, int) is 'Anonymous request of a verify_email (resend) or reset_password message for an address: throttled per address and per client (seconds to wait, else 0); queues the message with the same work whether or not an account fits.';

drop function if exists app_private.issue_user_token(int, text, bytea, interval, text);
create or replace function app_private.issue_account_token(purpose text, address text, token_hash bytea, ttl interval)
  returns table (email text, full_name text, tenant_name text)
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  account record;
begin
  -- Whom to write, if the message still makes sense: nobody (no row) for an unknown address, a user
  -- inactive, already verified (verify_email)…
  select u.id, u.email, u.full_name, t.name as tenant_name, s.credential_version into account
    from public.users u join public.tenants t on t.id = u.tenant_id join app_private.user_secrets s on s.user_id = u.id
   where lower(u.email) = lower(address) and app_private.account_may_act(u, t)
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
comment on function app_private.issue_account_token(text, text, bytea, interval) is 'The job worker, as it sends a verify_email or reset_password message: stores the hash of the token it carries and returns the address, the person''s own name (null when it is the shop''s) and the shop; no row when no account fits (unknown, inactive, already verified).';
revoke all on function app_private.issue_account_token(text, text, bytea, interval) from public;
grant execute on function app_private.issue_account_token(text, text, bytea, interval) to stoflow_worker;

create or replace function app_private.forget_expired_tokens() returns void
  language sql volatile
  set search_path = pg_catalog, public, pg_temp
  as $$
  -- Tokens and invitations expired a day ago tell nothing more: a few are forgotten at each issue.
  delete from app_private.user_tokens d where d.token_hash in (
    select t.token_hash from app_private.user_tokens t where t.expires_at < now() - interval '1 day'
     order by t.expires_at limit 16 for update skip locked);
  delete from public.invitations d where d.id in (
    select i.id from public.invitations i where i.expires_at < now() - interval '1 day'
     order by i.expires_at limit 16 for update skip locked);
$$;
comment on function app_private.forget_expired_tokens() is 'Deletes a few e-mailed tokens and invitations expired more than a day ago (called as messages are issued), so neither table grows without bound.';
revoke all on function app_private.forget_expired_tokens() from public;

------------------------------------------------------------------------------------------------
-- Tokens: what each can do.
------------------------------------------------------------------------------------------------
create or replace function app_private.invitation_may_be_accepted(invitation_id int) returns boolean
  language sql stable set search_path = pg_catalog, public, pg_temp as $$
  -- Pending, unexpired, its address still nobody's, and its inviter still an admin who may act.
  select exists (
    select 1 from public.invitations i
      join public.users inviter on inviter.id = i.invited_by
      join public.tenants t on t.id = i.tenant_id
     where i.id = invitation_may_be_accepted.invitation_id and i.expires_at > now()
       and inviter.role = 'admin' and app_private.account_may_act(inviter, t)
       and not exists (select 1 from public.users u where lower(u.email) = lower(i.email)))
$$;
comment on function app_private.invitation_may_be_accepted(int) is 'Whether an invitation can be accepted now: pending and unexpired, its address not an account''s, its inviter still an active admin of an active tenant.';
revoke all on function app_private.invitation_may_be_accepted(int) from public;

create or replace function app_private.user_token_outcome(token app_private.user_tokens, purpose text) returns text
  language sql stable set search_path = pg_catalog, public, pg_temp as $$
  select case
    when token.token_hash is null or token.purpose <> user_token_outcome.purpose then 'invalid'
    when token.used_at is not null then 'used'
    when token.expires_at <= now() then 'expired'
    when token.purpose = 'invitation' then case when app_private.invitation_may_be_accepted(token.invitation_id) then 'ok' else 'invalid' end
    -- The account was deactivated, a credential event happened, or its address changed since the token was sent.
    when not exists (select 1 from public.users u join public.tenants t on t.id = u.tenant_id
                       join app_private.user_secrets s on s.user_id = u.id
                      where u.id = token.user_id and app_private.account_may_act(u, t)
                        and s.credential_version = token.credential_version
                        and (token.purpose = 'change_email' or lower(u.email) = lower(token.email))) then 'invalid'
    else 'ok'
  end
$$;
comment on function app_private.user_token_outcome(app_private.user_tokens, text) is 'What a token (a null row: none) can do for this purpose: ok, or invalid (unknown, another purpose, account inactive, a credential event since, address changed; an invitation revoked, accepted or whose inviter may no longer invite), used, expired.';


drop function if exists app_private.use_user_token(bytea, text);
create or replace function app_private.use_user_token(token_hash bytea, purpose text,
  out outcome text, out user_id int, out email text, out invitation_id int, out email_change_id bigint)
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
    invitation_id := token.invitation_id;
    email_change_id := token.email_change_id;
  end if;
end;
$$;
comment on function app_private.use_user_token(bytea, text) is 'Uses an e-mailed token once (ok, with what it is bound to: user, address, invitation, change of address; else what app_private.user_token_outcome says); called by the security definer function of each flow.';
revoke all on function app_private.use_user_token(bytea, text) from public;

create or replace function app_private.reset_password(token_hash bytea, password_hash text) returns text
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  used record;
begin
  select * into used from app_private.use_user_token(token_hash, 'reset_password');
  if used.outcome = 'ok' then
    update app_private.user_secrets s set password_hash = reset_password.password_hash, password_changed_at = now()
     where s.user_id = used.user_id;
    perform app_private.revoke_dependent_credentials(array[used.user_id], 'password reset');
    -- The link proved the address; and the failed logins of whoever forgot the password are forgiven.
    update public.users u set email_verified_at = coalesce(u.email_verified_at, now()) where u.id = used.user_id;
    delete from app_private.attempt_counters where key = app_private.throttle_key('login-email', used.email);
  end if;
  return used.outcome;
end;
$$;
comment on function app_private.reset_password(bytea, text) is 'Sets the password (bcrypt hash made in Node) with a reset_password token, once: a credential event (every session and every other link of the user ends, see app_private.revoke_dependent_credentials), verifies the address, clears its failed logins; returns ok, invalid, used or expired.';

------------------------------------------------------------------------------------------------
-- Invitations: made, resent and revoked by admins, throttled per inviter and per tenant.
------------------------------------------------------------------------------------------------
drop function if exists app_private.invite_user(text, text, public.user_role);
drop function if exists app_private.queue_invitation(int);

create or replace function app_private.queue_invitation_email(invitation public.invitations) returns void
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  select null from graphile_worker.add_job('account_email', json_build_object('purpose', 'invitation', 'invitation_id', invitation.id),
    queue_name => 'invitations:' || invitation.tenant_id, job_key => 'invitation:' || invitation.id,
    job_key_mode => 'replace', priority => 10)
$$;
comment on function app_private.queue_invitation_email(public.invitations) is 'Queues an invitation''s message behind account mail (priority 10), in its tenant''s own named queue (one at a time per tenant).';
revoke all on function app_private.queue_invitation_email(public.invitations) from public;

create or replace function app_private.reserve_invitation(max_per_inviter int, max_per_tenant int, window_seconds int) returns int
  language sql volatile
  set search_path = pg_catalog, public, pg_temp
  as $$
  select app_private.reserve_attempts(
    array[app_private.throttle_key('invitation-inviter', app_private.current_user_id()::text),
          app_private.throttle_key('invitation-tenant', app_private.current_tenant_id()::text)],
    array[max_per_inviter, max_per_tenant], window_seconds)
$$;
comment on function app_private.reserve_invitation(int, int, int) is 'Reserves one invitation message (made or resent) of the signed-in admin and of their tenant in the window; 0 when reserved, else the seconds to wait.';
revoke all on function app_private.reserve_invitation(int, int, int) from public;

create or replace function app_private.invite(email text, full_name text, role public.user_role, ttl interval,
  max_per_inviter int, max_per_tenant int, window_seconds int, out retry_after int, out invitation_id int)
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
#variable_conflict use_column
declare
  invitation public.invitations;
begin
  retry_after := app_private.reserve_invitation(max_per_inviter, max_per_tenant, window_seconds);
  if retry_after > 0 then
    return;
  end if;
  -- The same work whether or not the address has an account: the worker decides what to send.
  insert into public.invitations as i (tenant_id, email, full_name, role, invited_by, expires_at)
    values (app_private.current_tenant_id(), invite.email, invite.full_name, invite.role, app_private.current_user_id(), now() + ttl)
    on conflict (tenant_id, lower(email)) do update
      set full_name = excluded.full_name, role = excluded.role, invited_by = excluded.invited_by,
          created_at = now(), expires_at = excluded.expires_at
    returning * into invitation;
  perform app_private.queue_invitation_email(invitation);
  invitation_id := invitation.id;
end;
$$;
comment on function app_private.invite(text, text, public.user_role, interval, int, int, int) is 'The signed-in admin invites an address into their tenant (again: the pending invitation is renewed): throttled per admin and per tenant (retry_after > 0: refused), then the invitation and its message are queued, the same whether or not the address has an account.';
revoke all on function app_private.invite(text, text, public.user_role, interval, int, int, int) from public;
grant execute on function app_private.invite(text, text, public.user_role, interval, int, int, int) to stoflow_admin;

create or replace function app_private.resend_invitation(invitation_id int, ttl interval,
  max_per_inviter int, max_per_tenant int, window_seconds int) returns int
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  invitation public.invitations;
  retry_after int;
begin
  if not exists (select 1 from public.invitations i where i.id = resend_invitation.invitation_id and i.tenant_id = app_private.current_tenant_id()) then
    raise exception 'No such invitation' using errcode = 'P0002';
  end if;
  retry_after := app_private.reserve_invitation(max_per_inviter, max_per_tenant, window_seconds);
  if retry_after = 0 then
    update public.invitations i set invited_by = app_private.current_user_id(), expires_at = now() + ttl
     where i.id = resend_invitation.invitation_id returning * into invitation;
    perform app_private.queue_invitation_email(invitation);
  end if;
  return retry_after;
end;
$$;
comment on function app_private.resend_invitation(int, interval, int, int, int) is 'The signed-in admin sends a pending invitation of their tenant again (P0002 for any other): it now hangs on their credentials and expires ttl from now; throttled as an invitation (seconds to wait, else 0).';
revoke all on function app_private.resend_invitation(int, interval, int, int, int) from public;
grant execute on function app_private.resend_invitation(int, interval, int, int, int) to stoflow_admin;

create or replace function app_private.revoke_invitation(invitation_id int) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  delete from public.invitations i where i.id = revoke_invitation.invitation_id and i.tenant_id = app_private.current_tenant_id();
  if not found then
    raise exception 'No such invitation' using errcode = 'P0002';
  end if;
end;
$$;
comment on function app_private.revoke_invitation(int) is 'The signed-in admin revokes a pending invitation of their tenant (P0002 for any other): its link stops working.';
revoke all on function app_private.revoke_invitation(int) from public;
grant execute on function app_private.revoke_invitation(int) to stoflow_admin;

create or replace function app_private.pending_invitations() returns jsonb
  language sql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  select coalesce(jsonb_agg(jsonb_build_object('id', i.id, 'email', i.email, 'full_name', i.full_name, 'role', i.role,
                                               'invited_by', i.invited_by, 'created_at', i.created_at, 'expires_at', i.expires_at)
                            order by i.id), '[]')
    from public.invitations i where i.tenant_id = app_private.current_tenant_id() and i.expires_at > now()
$$;
comment on function app_private.pending_invitations() is 'The signed-in admin''s tenant''s pending (unexpired) invitations, oldest first, in the JSON shape of the REST API.';
revoke all on function app_private.pending_invitations() from public;
grant execute on function app_private.pending_invitations() to stoflow_admin;

drop function if exists app_private.issue_invitation_token(int, bytea, int, int);
create or replace function app_private.issue_invitation_token(invitation_id int, token_hash bytea, max_per_recipient int, window_seconds int, first_attempt boolean)
  returns table (email text, tenant_name text, role text)
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  invitation record;
begin
  select i.id, i.email, i.role, i.expires_at, t.name into invitation
    from public.invitations i join public.tenants t on t.id = i.tenant_id
   where i.id = issue_invitation_token.invitation_id and app_private.invitation_may_be_accepted(i.id);
  -- Nothing to send (revoked, expired, accepted, inviter gone, or the address has an account: one
  -- account, one tenant), or this address had its share of invitation messages in the window:
  -- dropped, silently (the admin's answer was the same anyway). A retry (the relay failed) was
  -- counted at its first attempt.
  if not found or first_attempt and app_private.reserve_attempts(array[app_private.throttle_key('invitation-recipient', invitation.email)],
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
comment on function app_private.issue_invitation_token(int, bytea, int, int, boolean) is 'The job worker, as it sends an invitation: stores the hash of its token and returns what to write; no row (nothing sent) when it cannot be accepted (an address with an account gets nothing) or when its address was sent max_per_recipient invitations in the window (counted at a job''s first attempt only).';
revoke all on function app_private.issue_invitation_token(int, bytea, int, int, boolean) from public;
grant execute on function app_private.issue_invitation_token(int, bytea, int, int, boolean) to stoflow_worker;

create or replace function app_private.accept_invitation(token_hash bytea, password_hash text, out outcome text, out user_id int, out credential_version int)
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  used record;
  invitation public.invitations;
begin
  select * into used from app_private.use_user_token(token_hash, 'invitation');
  outcome := used.outcome;
  if outcome <> 'ok' then
    return;
  end if;
  select * into invitation from public.invitations i where i.id = used.invitation_id for update;
  begin
    -- The user exists from now on, verified by the link; the invitations of the address go (trigger).
    insert into public.users (tenant_id, email, full_name, role, email_verified_at)
      values (invitation.tenant_id, invitation.email, invitation.full_name, invitation.role, now())
      returning id into user_id;
  exception when unique_violation then
    outcome := 'invalid'; -- an account took the address meanwhile
    return;
  end;
  insert into app_private.user_secrets as s (user_id, password_hash) values (accept_invitation.user_id, accept_invitation.password_hash)
    returning s.credential_version into credential_version;
end;
$$;
comment on function app_private.accept_invitation(bytea, text) is 'The invitee accepts an invitation with its token, once: the user is created in the invitation''s tenant with its role, this first password and the address verified. Returns ok with the user and the credential version to open a session with, or invalid, used, expired.';

------------------------------------------------------------------------------------------------
-- Change of address: asked with the password, effective once both addresses confirmed; the old
-- address may refuse it ("this was not me"), which ends every session.
------------------------------------------------------------------------------------------------
drop function if exists app_private.request_email_change(text, text, int, int, int);
create or replace function app_private.request_email_change(
  new_email text, session_id uuid, checked_version int, ttl interval,
  client_address text, max_per_email int, max_per_address int, window_seconds int, out retry_after int, out accepted boolean
) language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  change app_private.email_changes;
  account_id int := app_private.current_user_id();
begin
  retry_after := app_private.reserve_attempts(
    array[app_private.throttle_key('mail-email', new_email), app_private.throttle_key('mail-address', client_address)],
    array[max_per_email, max_per_address], window_seconds);
  if retry_after > 0 then
    return;
  end if;
  -- As for a new password: the password checked must still be current, and the session live.
  perform 1 from app_private.user_secrets s where s.user_id = account_id and s.credential_version = checked_version for update;
  accepted := found and app_private.session_holds(session_id, account_id, checked_version);
  if not accepted then
    return;
  end if;
  delete from app_private.attempt_counters where key = app_private.throttle_key('password-change', account_id::text);
  if exists (select 1 from public.users u where u.id = account_id and lower(u.email) = lower(new_email)) then
    raise exception 'new_email is the current address' using errcode = '22023';
  end if;
  -- The same work whether or not an account has the new address: the worker sends nothing there if one has.
  delete from app_private.email_changes c where c.user_id = account_id; -- a new request replaces the pending one (its links die)
  insert into app_private.email_changes (user_id, old_email, new_email, expires_at)
    select u.id, u.email, request_email_change.new_email, now() + ttl from public.users u where u.id = account_id
    returning * into change;
  perform graphile_worker.add_job('account_email', json_build_object('purpose', 'change_email', 'change_id', change.id, 'side', side),
            job_key => 'change_email:' || side || ':' || account_id, job_key_mode => 'replace', priority => 0)
     from unnest(array['old', 'new']) side;
end;
$$;
comment on function app_private.request_email_change(text, uuid, int, interval, text, int, int, int) is 'The signed-in user, whose password was just checked (under checked_version), asks to move to a new address: throttled like every mail request (retry_after > 0); accepted false when the password or the session changed meanwhile. Replaces any pending change and queues a confirmation to each address, the same work whether or not an account has the new one.';
revoke all on function app_private.request_email_change(text, uuid, int, interval, text, int, int, int) from public;
grant execute on function app_private.request_email_change(text, uuid, int, interval, text, int, int, int) to stoflow_auth;

create or replace function app_private.issue_email_change_token(change_id bigint, side text, token_hash bytea)
  returns table (email text, full_name text, new_email text)
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  change record;
begin
  select c.id, c.user_id, c.old_email, c.new_email, c.expires_at, u.full_name, t.name as tenant_name, s.credential_version into change
    from app_private.email_changes c join public.users u on u.id = c.user_id join public.tenants t on t.id = u.tenant_id
    join app_private.user_secrets s on s.user_id = u.id
   where c.id = issue_email_change_token.change_id and c.expires_at > now() and app_private.account_may_act(u, t)
     -- Nothing goes to a new address another account has (and its change can never complete).
     and (side = 'old' or not exists (select 1 from public.users o where lower(o.email) = lower(c.new_email)));
  if found then
    email := case side when 'old' then change.old_email else change.new_email end;
    full_name := nullif(change.full_name, change.tenant_name);
    new_email := change.new_email;
    insert into app_private.user_tokens (token_hash, user_id, purpose, email, expires_at, credential_version, email_change_id)
      values (token_hash, change.user_id, 'change_email', issue_email_change_token.email, change.expires_at, change.credential_version, change.id);
    return next;
  end if;
end;
$$;
comment on function app_private.issue_email_change_token(bigint, text, bytea) is 'The job worker, as it sends one of the two confirmations of a change of address (side old or new): stores the hash of its token and returns the address, the person''s own name and the new address; no row when the change is gone or expired, or (side new) another account has the new address.';
revoke all on function app_private.issue_email_change_token(bigint, text, bytea) from public;
grant execute on function app_private.issue_email_change_token(bigint, text, bytea) to stoflow_worker;

drop function if exists app_private.confirm_email_change(bytea);
create or replace function app_private.confirm_email_change(token_hash bytea, out outcome text, out changed boolean)
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  used record;
  change app_private.email_changes;
begin
  select * into used from app_private.use_user_token(token_hash, 'change_email');
  outcome := used.outcome;
  changed := false;
  if outcome <> 'ok' then
    return;
  end if;
  update app_private.email_changes c
     set old_confirmed_at = coalesce(c.old_confirmed_at, case when lower(used.email) = lower(c.old_email) then now() end),
         new_confirmed_at = coalesce(c.new_confirmed_at, case when lower(used.email) = lower(c.new_email) then now() end)
   where c.id = used.email_change_id returning * into change;
  if change.old_confirmed_at is not null and change.new_confirmed_at is not null then
    -- A credential event (trigger): every session ends, the change and its links go.
    update public.users u set email = change.new_email, email_verified_at = now() where u.id = change.user_id; -- 23505 if taken meanwhile
    changed := true;
  end if;
end;
$$;
comment on function app_private.confirm_email_change(bytea) is 'One of the two confirmations of a change of address (its token says which address it went to): once both are in, the address changes (verified by that), which is a credential event. outcome ok, invalid, used or expired; changed says whether the address changed now (23505 when an account took it meanwhile).';
revoke all on function app_private.confirm_email_change(bytea) from public;
grant execute on function app_private.confirm_email_change(bytea) to stoflow_auth;

create or replace function app_private.cancel_email_change(token_hash bytea) returns text
  language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
declare
  used record;
begin
  -- Only the message to the old address offers this: a token sent to the new address is refused unused.
  if not exists (select 1 from app_private.user_tokens t join app_private.email_changes c on c.id = t.email_change_id
                  where t.token_hash = cancel_email_change.token_hash and lower(t.email) = lower(c.old_email)) then
    return 'invalid';
  end if;
  select * into used from app_private.use_user_token(token_hash, 'change_email');
  if used.outcome = 'ok' then
    perform app_private.revoke_dependent_credentials(array[used.user_id], 'address change refused');
  end if;
  return used.outcome;
end;
$$;
comment on function app_private.cancel_email_change(bytea) is '"This was not me", with the token of the message to the old address: the change is cancelled and, as a credential event, every session of the user ends. Returns ok, invalid (also for a token sent to the new address), used or expired.';
revoke all on function app_private.cancel_email_change(bytea) from public;
grant execute on function app_private.cancel_email_change(bytea) to stoflow_auth;

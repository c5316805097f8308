-- Enter migration here (idempotent while it is current.sql)

-- perf2: the session check of every request, in SQL, inside the request's own transaction.
-- The gateway opens each transaction with one simple query: BEGIN, the request's settings and
-- `select app_private.require_live_session()`; a dead session fails that query with SQLSTATE SFSES
-- (answered 401 INVALID_TOKEN). The four-argument form is the one place the check lives.
-- It replaces app_private.session_role: its query moves here (PL/pgSQL keeps the plan per connection),
-- so that the check is one function, called the same way from every path.
drop function if exists app_private.session_role(int, uuid);

create or replace function app_private.require_live_session(user_id int, tenant_id int, app_role text, session_id uuid)
  returns void
  language plpgsql stable security definer
  set search_path = pg_catalog, public, pg_temp
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
     and s.revoked_at is null and s.credential_version = sec.credential_version and u.is_active and t.is_active;
  if not found then
    raise exception 'Session ended or account inactive' using errcode = 'SFSES';
  end if;
  if live.tenant_id is distinct from require_live_session.tenant_id or live.role is distinct from app_role then
    raise exception 'Token outdated; refresh it' using errcode = 'SFSES';
  end if;
end
$$;
comment on function app_private.require_live_session(int, int, text, uuid) is
  'Raises SFSES unless the session may act now with this tenant and role: the session exists for this user, is not revoked, holds the user''s current credential version (a password change or deactivation raises it), the user and tenant are active, and the token''s tenant and role are still the user''s. The one place the per-request check lives.';

create or replace function app_private.require_live_session()
  returns void
  language plpgsql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  session_id text := current_setting('jwt.claims.session_id', true);
begin
  if coalesce(session_id, '') = '' then
    return; -- an anonymous request: nothing to check
  end if;
  perform app_private.require_live_session(
    current_setting('jwt.claims.user_id')::int, current_setting('jwt.claims.tenant_id')::int,
    current_setting('jwt.claims.role'), session_id::uuid);
end
$$;
comment on function app_private.require_live_session() is
  'The session check of the current transaction: reads jwt.claims.session_id, user_id, tenant_id and role (set with BEGIN, in the same round trip) and raises SFSES when that session may not act now; does nothing without a session id (anonymous).';

revoke all on function app_private.require_live_session(int, int, text, uuid) from public;
revoke all on function app_private.require_live_session() from public;
grant execute on function app_private.require_live_session(int, int, text, uuid) to stoflow_authenticator;
grant execute on function app_private.require_live_session() to stoflow_anonymous, stoflow_auth, stoflow_authenticator;

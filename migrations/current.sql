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

-- Issue 28: live updates without a NOTIFY per write. NOTIFY takes a lock on the whole database
-- from its transaction's commit until the commit is flushed, so every notifying writer committed
-- one after the other (0.83× the write throughput of tenants with a subscriber, bench:live). The
-- trigger now queues the event in an unlogged outbox; each gateway's publisher
-- (src/live/publisher.ts) moves the queue to NOTIFY every LIVE_PUBLISH_MS, one transaction and
-- one lock for the whole batch, one publisher at a time.
create unlogged table if not exists app_private.live_outbox (
  id bigint generated always as identity primary key,
  payload text not null
);
comment on table app_private.live_outbox is
  'Row changes of tenants some gateway listens for, queued by app_private.tg__notify_live and moved to NOTIFY stoflow_live by app_private.publish_live_changes. Unlogged: a crash empties it, and every gateway then sends RESYNC (its LISTEN connection was lost).';
comment on column app_private.live_outbox.id is 'Queue order: a later change of the same row always has a larger id (the row lock orders the writers).';
comment on column app_private.live_outbox.payload is 'The notification''s payload: {t: tenant id, k: kind, op: INSERT/UPDATE/DELETE, id: the row''s key}. Keys only, never row data.';
alter table app_private.live_outbox enable row level security;
revoke all on app_private.live_outbox from public;

create or replace function app_private.tg__notify_live() returns trigger
  language plpgsql
  security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  tenant int := substring(tg_table_schema from '^client_([1-9][0-9]*)$')::int;
begin
  if tenant is null -- tenant_template holds no rows anyone waits for
     or not exists (
       select 1 from app_private.live_listeners l
        where l.tenant_id = tenant and l.renewed_at > now() - interval '2 minutes') then
    return null;
  end if;
  insert into app_private.live_outbox (payload) values (json_build_object(
    't', tenant, 'k', tg_argv[0], 'op', tg_op,
    'id', to_jsonb(case when tg_op = 'DELETE' then old else new end) -> tg_argv[1])::text);
  return null;
end
$$;
comment on function app_private.tg__notify_live() is
  'Trigger on the tenant tables sellers wait for (after each row): when some gateway listens for the tenant (app_private.live_listeners), queues {t: tenant id from the schema name, k: the kind (argument 1), op: INSERT/UPDATE/DELETE, id: the row''s key column (argument 2)} in app_private.live_outbox, which app_private.publish_live_changes notifies on stoflow_live. Keys only, never row data: the gateway re-reads the row under the subscriber''s role. Security definer: writers can neither read the listeners nor touch the outbox.';

create or replace function app_private.publish_live_changes(max_changes int) returns int
  language plpgsql
  volatile
  security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  change record;
  published int := 0;
begin
  -- One publisher at a time, so that batches go out in queue order; another gateway tries again at its next tick.
  if not pg_try_advisory_xact_lock(hashtext('app_private.live_outbox')) then
    return 0;
  end if;
  for change in
    with batch as (
      delete from app_private.live_outbox
       where id in (select o.id from app_private.live_outbox o order by o.id limit max_changes)
      returning id, payload)
    select payload from batch order by id
  loop
    perform pg_notify('stoflow_live', change.payload);
    published := published + 1;
  end loop;
  return published;
end
$$;
comment on function app_private.publish_live_changes(int) is
  'Moves up to max_changes queued row changes (app_private.live_outbox, oldest first) to NOTIFY stoflow_live in this one transaction, and returns how many; 0 when another gateway is publishing. Called by every gateway every LIVE_PUBLISH_MS.';
revoke all on function app_private.publish_live_changes(int) from public;
grant execute on function app_private.publish_live_changes(int) to stoflow_authenticator;

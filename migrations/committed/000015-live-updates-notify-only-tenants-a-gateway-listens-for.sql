--! Previous: sha1:2fa2ceeeb4d1f158e3ed39c187ed8a663af192f6
--! Hash: sha1:68c4b1158a71d1de0a8736767fdc324eb37ece91
--! Message: live updates notify only tenants a gateway listens for

-- Live updates notify only the tenants some gateway listens for: a writer of any other tenant sends
-- no NOTIFY, and so never waits on the commit-time lock that NOTIFY takes for the whole database.

create unlogged table if not exists app_private.live_listeners (
  tenant_id int not null,
  gateway text not null,
  renewed_at timestamptz not null default now(),
  primary key (tenant_id, gateway)
);
comment on table app_private.live_listeners is
  'The tenants each gateway process has live subscriptions for (app_private.live_listen), read by app_private.tg__notify_live: a row change of a tenant with no row here, or only expired ones, is not notified. Unlogged: after a crash the gateways register again within a renewal.';
comment on column app_private.live_listeners.tenant_id is 'A tenant with at least one subscription on that gateway.';
comment on column app_private.live_listeners.gateway is 'The gateway process (host, pid and a random suffix), as it names itself.';
comment on column app_private.live_listeners.renewed_at is 'When the gateway last said it still listens; older than two minutes: expired (the gateway is gone), ignored and deleted.';
alter table app_private.live_listeners enable row level security;
revoke all on app_private.live_listeners from public;

create or replace function app_private.live_listen(gateway text, tenant_ids int[]) returns void
  language sql
  volatile
  security definer
  set search_path = pg_catalog, pg_temp
  as $$
  delete from app_private.live_listeners l
    where (l.gateway = live_listen.gateway and l.tenant_id <> all (live_listen.tenant_ids))
       or l.renewed_at < now() - interval '2 minutes';
  insert into app_private.live_listeners (tenant_id, gateway)
    select distinct t, live_listen.gateway from unnest(live_listen.tenant_ids) t
    on conflict on constraint live_listeners_pkey do update set renewed_at = now();
$$;
comment on function app_private.live_listen(text, int[]) is
  'A gateway''s whole set of tenants with subscriptions, told when a tenant joins the set and renewed every 30 s: replaces its rows, renews them, and deletes every expired row (gateways gone).';
revoke all on function app_private.live_listen(text, int[]) from public;
grant execute on function app_private.live_listen(text, int[]) to stoflow_authenticator;

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
  perform pg_notify('stoflow_live', json_build_object(
    't', tenant, 'k', tg_argv[0], 'op', tg_op,
    'id', to_jsonb(case when tg_op = 'DELETE' then old else new end) -> tg_argv[1])::text);
  return null;
end
$$;
comment on function app_private.tg__notify_live() is
  'Trigger on the tenant tables sellers wait for (after each row): when some gateway listens for the tenant (app_private.live_listeners), pg_notify(''stoflow_live'', {t: tenant id from the schema name, k: the kind (argument 1), op: INSERT/UPDATE/DELETE, id: the row''s key column (argument 2)}). Keys only, never row data: the gateway re-reads the row under the subscriber''s role. Security definer: writers cannot read the listeners.';

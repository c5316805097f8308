--! Previous: sha1:caa6f8e062bbf12bbf8dc45c68b937f98da78eb8
--! Hash: sha1:2fa2ceeeb4d1f158e3ed39c187ed8a663af192f6
--! Message: live updates: row changes and ended sessions notified

-- Live updates (GraphQL subscriptions): the database announces what changed, never the rows.
-- Each gateway process LISTENs on two channels: stoflow_live (a tenant row changed: tenant id,
-- kind, operation, key) and stoflow_session_ended (a session id). Delivery re-reads the row under
-- the subscriber's own role and RLS, so a notification can never carry data to the wrong tenant.

create or replace function app_private.tg__notify_live() returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
  as $$
declare
  tenant_id int := substring(tg_table_schema from '^client_([1-9][0-9]*)$')::int;
  changed jsonb := to_jsonb(case when tg_op = 'DELETE' then old else new end);
begin
  if tenant_id is null then
    return null; -- tenant_template holds no rows anyone waits for
  end if;
  perform pg_notify('stoflow_live', json_build_object(
    't', tenant_id, 'k', tg_argv[0], 'op', tg_op, 'id', changed -> tg_argv[1])::text);
  return null;
end
$$;
comment on function app_private.tg__notify_live() is
  'Trigger on the tenant tables sellers wait for (after each row): pg_notify(''stoflow_live'', {t: tenant id from the schema name, k: the kind (argument 1), op: INSERT/UPDATE/DELETE, id: the row''s key column (argument 2)}). Keys only, never row data: the gateway re-reads the row under the subscriber''s role.';

select app_private.add_tenant_ddl_step('live updates', $step$
  drop trigger if exists _900_live on {schema}.products;
  create trigger _900_live after insert or update or delete on {schema}.products
    for each row execute function app_private.tg__notify_live('product', 'sku');
  drop trigger if exists _900_live on {schema}.vinted_products;
  create trigger _900_live after insert or update or delete on {schema}.vinted_products
    for each row execute function app_private.tg__notify_live('vinted_product', 'sku');
  drop trigger if exists _900_live on {schema}.publications_history;
  create trigger _900_live after insert or update of status on {schema}.publications_history
    for each row execute function app_private.tg__notify_live('publication', 'id');
  drop trigger if exists _900_live on {schema}.ai_generations_log;
  create trigger _900_live after insert on {schema}.ai_generations_log
    for each row execute function app_private.tg__notify_live('ai_generation', 'id');
$step$);

create or replace function app_private.tg_sessions__notify_ended() returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
  as $$
begin
  perform pg_notify('stoflow_session_ended', old.id::text);
  return null;
end
$$;
comment on function app_private.tg_sessions__notify_ended() is
  'Trigger on sessions: a session revoked (every credential event goes through app_private.revoke_dependent_credentials, which marks them) or deleted is announced on stoflow_session_ended, so that every gateway closes its subscription sockets at once.';

drop trigger if exists _900_notify_ended on app_private.sessions;
create trigger _900_notify_ended after update of revoked_at on app_private.sessions
  for each row when (old.revoked_at is null and new.revoked_at is not null)
  execute function app_private.tg_sessions__notify_ended();
drop trigger if exists _900_notify_ended_on_delete on app_private.sessions;
create trigger _900_notify_ended_on_delete after delete on app_private.sessions
  for each row execute function app_private.tg_sessions__notify_ended();

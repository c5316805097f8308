--! Previous: sha1:18006792f80490e476370c47dc72ca4eec8b9fab
--! Hash: sha1:15d77a1c175b0e2ec925e40475e03b486145cb89
--! Message: business rules: tier limits, subscription changes, teams, status transitions, export and deletion

drop function if exists public.current_tenant_usage() cascade;
drop type if exists public.tenant_usage cascade;
drop function if exists public.change_subscription_tier(text) cascade;
drop function if exists public.export_tenant_data() cascade;
drop function if exists public.delete_tenant(text) cascade;
drop function if exists app_private.set_initial_password(int, text) cascade;
drop table if exists public.vinted_status_transitions cascade;
drop policy if exists insert_by_admin on public.users;
drop policy if exists update_by_admin on public.users;
drop policy if exists update_self on public.users;
drop policy if exists delete_by_admin on public.users;
drop policy if exists write_by_operator on public.platform_mappings;

------------------------------------------------------------------------------------------------
-- Helpers for rules that tenant tables share.
------------------------------------------------------------------------------------------------
create or replace function app_private.tenant_id_of_schema(schema_name text) returns int
  language sql immutable parallel safe
  as $$ select substring(schema_name from '^client_([1-9][0-9]*)$')::int $$;
comment on function app_private.tenant_id_of_schema(text) is 'The tenant id of a client_<id> schema; NULL for any other schema.';

create or replace function app_private.locked_tenant(schema_name text) returns public.tenants
  language sql volatile
  set search_path = pg_catalog, public, pg_temp
  as $$
  select * from public.tenants where id = app_private.tenant_id_of_schema(locked_tenant.schema_name) for no key update
$$;
comment on function app_private.locked_tenant(text) is
  'The tenant owning a schema, row-locked until the transaction ends: limit checks of one tenant run one at a time, so racing inserts cannot overshoot a limit.';

create or replace function app_private.count_in_tenant(schema_name text, query text) returns int
  language plpgsql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  result int;
begin
  execute replace(query, '{schema}', quote_ident(schema_name)) into result;
  return coalesce(result, 0);
end;
$$;
comment on function app_private.count_in_tenant(text, text) is 'Runs a counting query with {schema} replaced by a tenant schema.';

------------------------------------------------------------------------------------------------
-- Tier limits, enforced by triggers (SQLSTATE SFLIM, message: limit, tier, usage).
------------------------------------------------------------------------------------------------
create or replace function app_private.tg_products__enforce_product_limit() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  t public.tenants := app_private.locked_tenant(tg_table_schema);
  in_use int;
begin
  if t.id is null or t.max_products is null or (tg_op = 'UPDATE' and old.is_active) then
    return new;
  end if;
  in_use := app_private.count_in_tenant(tg_table_schema, 'select count(*) from {schema}.products where is_active');
  if in_use >= t.max_products then
    raise exception 'Product limit reached: the % tier allows % active products and % are in use',
      t.subscription_tier, t.max_products, in_use using errcode = 'SFLIM';
  end if;
  return new;
end;
$$;
comment on function app_private.tg_products__enforce_product_limit() is
  'Trigger: refuses a new active product beyond the tenant''s max_products.';

create or replace function app_private.tg_publications_history__enforce_platform_limit() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  t public.tenants := app_private.locked_tenant(tg_table_schema);
  platforms text[];
begin
  if t.id is null or t.max_platforms is null then
    return new;
  end if;
  execute format('select array_agg(distinct platform order by platform) from %I.publications_history', tg_table_schema)
    into platforms;
  if new.platform = any(coalesce(platforms, '{}')) or coalesce(cardinality(platforms), 0) < t.max_platforms then
    return new;
  end if;
  raise exception 'Platform limit reached: the % tier allows % platforms and % are in use (%)',
    t.subscription_tier, t.max_platforms, cardinality(platforms), array_to_string(platforms, ', ')
    using errcode = 'SFLIM';
end;
$$;
comment on function app_private.tg_publications_history__enforce_platform_limit() is
  'Trigger: refuses publishing to a new platform beyond the tenant''s max_platforms.';

create or replace function app_private.tg_ai_generations_log__enforce_ai_credits() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  t public.tenants := app_private.locked_tenant(tg_table_schema);
  used int;
begin
  if t.id is null or new.was_cached then
    return new;
  end if;
  used := app_private.count_in_tenant(tg_table_schema,
    'select count(*) from {schema}.ai_generations_log where not was_cached and created_at >= date_trunc(''month'', now())');
  if used >= t.ai_credits_monthly then
    raise exception 'AI credit limit reached: the % tier allows % generations a month and % are used this month',
      t.subscription_tier, t.ai_credits_monthly, used using errcode = 'SFLIM';
  end if;
  return new;
end;
$$;
comment on function app_private.tg_ai_generations_log__enforce_ai_credits() is
  'Trigger: refuses an AI generation not served from cache beyond the month''s credits.';

create or replace function app_private.tg_tenant_tables__require_active_tenant() returns trigger
  language plpgsql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  status public.tenant_status;
begin
  select subscription_status into status from public.tenants where id = app_private.tenant_id_of_schema(tg_table_schema);
  if status is distinct from 'active' and status is not null then
    raise exception 'The tenant''s subscription is %: changes are refused until it is active again', status
      using errcode = 'SFSUS';
  end if;
  return null;
end;
$$;
comment on function app_private.tg_tenant_tables__require_active_tenant() is
  'Statement trigger: a suspended or cancelled tenant reads its data but cannot change it.';

------------------------------------------------------------------------------------------------
-- Marketplace status rules (SQLSTATE SFTRN).
------------------------------------------------------------------------------------------------
create table public.vinted_status_transitions (
  from_status public.vinted_status not null,
  to_status public.vinted_status not null,
  primary key (from_status, to_status),
  check (from_status <> to_status)
);
comment on table public.vinted_status_transitions is 'The status changes a Vinted listing may make; any other is refused.';
comment on column public.vinted_status_transitions.from_status is 'Status before the change.';
comment on column public.vinted_status_transitions.to_status is 'Status after the change.';
insert into public.vinted_status_transitions (from_status, to_status) values
  ('draft', 'published'), ('draft', 'deleted'), ('draft', 'error'),
  ('published', 'sold'), ('published', 'deleted'), ('published', 'error'),
  ('error', 'draft'), ('error', 'published'), ('error', 'deleted');
alter table public.vinted_status_transitions enable row level security;
create policy select_all on public.vinted_status_transitions for select using (true);
grant select on public.vinted_status_transitions to stoflow_anonymous;

create or replace function app_private.tg_vinted_products__status_rules() returns trigger
  language plpgsql volatile
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  if tg_op = 'INSERT' and new.status not in ('draft', 'published') then
    raise exception 'A Vinted listing starts as draft or published, not %', new.status using errcode = 'SFTRN';
  end if;
  if tg_op = 'UPDATE' and new.status is distinct from old.status and not exists (
    select 1 from public.vinted_status_transitions where from_status = old.status and to_status = new.status
  ) then
    raise exception 'Invalid Vinted status transition: % to %', old.status, new.status using errcode = 'SFTRN';
  end if;
  if new.status = 'error' and (tg_op = 'INSERT' or old.status <> 'error') then
    if new.last_error is null then
      raise exception 'The error status needs last_error' using errcode = 'SFTRN';
    end if;
    new.error_count := coalesce(old.error_count, 0) + 1;
  end if;
  if new.status = 'published' and new.published_at is null then
    new.published_at := now();
  end if;
  return new;
end;
$$;
comment on function app_private.tg_vinted_products__status_rules() is
  'Trigger: Vinted status changes follow vinted_status_transitions; entering error needs last_error and counts in error_count; publishing sets published_at.';

create or replace function app_private.tg_publications_history__status_rules() returns trigger
  language plpgsql volatile
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  if tg_op = 'UPDATE' and old.status <> 'pending' and new.status is distinct from old.status then
    raise exception 'A publication attempt that ended (%) cannot become %', old.status, new.status using errcode = 'SFTRN';
  end if;
  if new.status = 'pending' then
    new.completed_at := null;
    new.duration_seconds := null;
  elsif tg_op = 'INSERT' or old.status = 'pending' then
    new.completed_at := coalesce(new.completed_at, now());
    new.duration_seconds := greatest(0, round(extract(epoch from new.completed_at - new.started_at)))::int;
  end if;
  return new;
end;
$$;
comment on function app_private.tg_publications_history__status_rules() is
  'Trigger: an attempt goes from pending to success or error once; completed_at and duration_seconds are derived then.';

select app_private.add_tenant_ddl_step('business rules', $step$
create trigger _100_require_active_tenant before insert or update or delete on {schema}.products
  for each statement execute function app_private.tg_tenant_tables__require_active_tenant();
create trigger _100_require_active_tenant before insert or update or delete on {schema}.vinted_products
  for each statement execute function app_private.tg_tenant_tables__require_active_tenant();
create trigger _100_require_active_tenant before insert or update or delete on {schema}.publications_history
  for each statement execute function app_private.tg_tenant_tables__require_active_tenant();
create trigger _100_require_active_tenant before insert or update or delete on {schema}.ai_generations_log
  for each statement execute function app_private.tg_tenant_tables__require_active_tenant();
create trigger _200_product_limit before insert or update of is_active on {schema}.products
  for each row when (new.is_active) execute function app_private.tg_products__enforce_product_limit();
create trigger _200_platform_limit before insert on {schema}.publications_history
  for each row execute function app_private.tg_publications_history__enforce_platform_limit();
create trigger _200_ai_credits before insert on {schema}.ai_generations_log
  for each row execute function app_private.tg_ai_generations_log__enforce_ai_credits();
create trigger _300_status_rules before insert or update on {schema}.vinted_products
  for each row execute function app_private.tg_vinted_products__status_rules();
create trigger _300_status_rules before insert or update on {schema}.publications_history
  for each row execute function app_private.tg_publications_history__status_rules();
-- Derived by the status rules, not written by clients.
revoke insert (error_count), update (error_count) on {schema}.vinted_products from stoflow_user;
revoke insert (duration_seconds), update (duration_seconds) on {schema}.publications_history from stoflow_user;
$step$);

------------------------------------------------------------------------------------------------
-- Usage and remaining credits, readable by the tenant.
------------------------------------------------------------------------------------------------
create type public.tenant_usage as (
  tier text, active_products int, max_products int, platforms_used int, max_platforms int,
  ai_credits_used int, ai_credits_monthly int, ai_credits_remaining int
);
comment on type public.tenant_usage is 'What the current tenant uses of its tier''s limits (NULL limit = unlimited).';

create function public.current_tenant_usage() returns public.tenant_usage
  language plpgsql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  t public.tenants;
  ai_used int;
begin
  select * into t from public.tenants where id = app_private.current_tenant_id();
  if not found then
    return null;
  end if;
  ai_used := app_private.count_in_tenant(t.schema_name,
    'select count(*) from {schema}.ai_generations_log where not was_cached and created_at >= date_trunc(''month'', now())');
  return (t.subscription_tier,
          app_private.count_in_tenant(t.schema_name, 'select count(*) from {schema}.products where is_active'),
          t.max_products,
          app_private.count_in_tenant(t.schema_name, 'select count(distinct platform) from {schema}.publications_history'),
          t.max_platforms, ai_used, t.ai_credits_monthly, greatest(t.ai_credits_monthly - ai_used, 0))::public.tenant_usage;
end;
$$;
comment on function public.current_tenant_usage() is
  'Usage of the signed-in tenant against its limits: active products, platforms, AI credits used and remaining this month.';
grant execute on function public.current_tenant_usage() to stoflow_viewer;

------------------------------------------------------------------------------------------------
-- Subscription changes (admins only).
------------------------------------------------------------------------------------------------
create function public.change_subscription_tier(new_tier text) returns public.subscriptions
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  t public.tenants;
  target public.tiers;
  products_in_use int;
  platforms_in_use int;
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
  products_in_use := app_private.count_in_tenant(t.schema_name, 'select count(*) from {schema}.products where is_active');
  platforms_in_use := app_private.count_in_tenant(t.schema_name, 'select count(distinct platform) from {schema}.publications_history');
  if products_in_use > target.max_products then
    raise exception 'Cannot move to the % tier: it allows % active products and % are active; archive some first',
      target.id, target.max_products, products_in_use using errcode = 'SFLIM';
  elsif platforms_in_use > target.max_platforms then
    raise exception 'Cannot move to the % tier: it allows % platforms and % are in use',
      target.id, target.max_platforms, platforms_in_use using errcode = 'SFLIM';
  end if;
  update public.subscriptions set end_date = now(), status = 'expired' where tenant_id = t.id and end_date is null;
  insert into public.subscriptions (tenant_id, tier, price_monthly) values (t.id, target.id, target.price_monthly)
    returning * into opened;
  update public.tenants set subscription_tier = target.id where id = t.id;
  return opened;
end;
$$;
comment on function public.change_subscription_tier(text) is
  'Moves the signed-in admin''s tenant to another tier: the current period ends (expired), a new one opens, the limits follow at once. A downgrade below current usage is refused (LIMIT_REACHED): nothing is deleted behind the seller''s back.';
grant execute on function public.change_subscription_tier(text) to stoflow_admin;

------------------------------------------------------------------------------------------------
-- Teams: admins add users (with a password hashed by the server), change roles and deactivate;
-- everyone edits their own name and phone.
------------------------------------------------------------------------------------------------
alter table public.users alter column tenant_id set default app_private.current_tenant_id();
grant insert (tenant_id, email, full_name, phone, role), update (role, is_active), delete on public.users to stoflow_admin;
grant update (full_name, phone) on public.users to stoflow_viewer;
create policy insert_by_admin on public.users for insert to stoflow_admin
  with check (tenant_id = (select app_private.current_tenant_id()));
create policy update_by_admin on public.users for update to stoflow_admin
  using (tenant_id = (select app_private.current_tenant_id()))
  with check (tenant_id = (select app_private.current_tenant_id()));
create policy update_self on public.users for update to stoflow_viewer
  using (id = (select app_private.current_user_id()))
  with check (id = (select app_private.current_user_id()));
create policy delete_by_admin on public.users for delete to stoflow_admin
  using (tenant_id = (select app_private.current_tenant_id()));
comment on table public.users is E'@behavior -insert\nA person who signs in to Stoflow. Each user belongs to one tenant. Admins add users with the addTeamMember mutation.';

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
     and (tg_op = 'DELETE' or new.role <> 'admin' or not new.is_active)
     -- Lock the tenant so that two admins cannot demote each other at the same time; a tenant
     -- being deleted is gone already, and its users go with it.
     and exists (select 1 from public.tenants where id = old.tenant_id for no key update)
     and not exists (select 1 from public.users u where u.tenant_id = old.tenant_id and u.id <> old.id
                     and u.role = 'admin' and u.is_active) then
    raise exception 'The last active admin of a tenant cannot be removed, deactivated or demoted' using errcode = 'SFADM';
  end if;
  return coalesce(new, old);
end;
$$;
comment on function app_private.tg_users__protect_admins() is
  'Trigger: nobody changes their own role, and through the API every tenant keeps at least one active admin.';
drop trigger if exists _200_protect_admins on public.users;
create trigger _200_protect_admins before update or delete on public.users
  for each row execute function app_private.tg_users__protect_admins();

create function app_private.set_initial_password(user_id int, password_hash text) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  if not exists (select 1 from public.users u where u.id = set_initial_password.user_id
                 and u.tenant_id = app_private.current_tenant_id()) then
    raise exception 'No such user in this tenant' using errcode = '42501';
  end if;
  insert into app_private.user_secrets (user_id, password_hash) values (set_initial_password.user_id, set_initial_password.password_hash);
end;
$$;
comment on function app_private.set_initial_password(int, text) is
  'Stores the first password (hashed by the server) of a user an admin just added to their tenant.';
grant execute on function app_private.set_initial_password(int, text) to stoflow_admin;

------------------------------------------------------------------------------------------------
-- Platform mappings: written only by platform operators (staff), never through a tenant token.
------------------------------------------------------------------------------------------------
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'stoflow_platform_operator') then
    create role stoflow_platform_operator nologin;
  end if;
end $$;
grant usage on schema public, app_private to stoflow_platform_operator;
grant execute on function app_private.current_tenant_id() to stoflow_platform_operator;
grant select, insert, update, delete on public.platform_mappings to stoflow_platform_operator;
create policy write_by_operator on public.platform_mappings for all to stoflow_platform_operator using (true) with check (true);

------------------------------------------------------------------------------------------------
-- Tenant lifecycle (admins only): export everything, delete everything.
------------------------------------------------------------------------------------------------
create function public.export_tenant_data() returns jsonb
  language plpgsql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  t public.tenants;
  tenant_rows jsonb := '{}';
  table_name text;
  rows jsonb;
begin
  select * into t from public.tenants where id = app_private.current_tenant_id();
  foreach table_name in array array['products', 'vinted_products', 'publications_history', 'ai_generations_log'] loop
    execute format('select coalesce(jsonb_agg(to_jsonb(x)), ''[]'') from %I.%I x', t.schema_name, table_name) into rows;
    tenant_rows := tenant_rows || jsonb_build_object(table_name, rows);
  end loop;
  return jsonb_build_object(
    'exported_at', now(),
    'tenant', to_jsonb(t),
    'users', (select coalesce(jsonb_agg(to_jsonb(u) order by u.id), '[]') from public.users u where u.tenant_id = t.id),
    'subscriptions', (select coalesce(jsonb_agg(to_jsonb(s) order by s.id), '[]') from public.subscriptions s where s.tenant_id = t.id)
  ) || tenant_rows;
end;
$$;
comment on function public.export_tenant_data() is
  'Everything of the signed-in admin''s tenant as one JSON document: tenant, users (no passwords), subscriptions and every tenant table.';
grant execute on function public.export_tenant_data() to stoflow_admin;

create function public.delete_tenant(confirm_name text) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  t public.tenants;
begin
  select * into t from public.tenants where id = app_private.current_tenant_id() for update;
  if confirm_name is distinct from t.name then
    raise exception 'To delete the tenant, confirm with its exact name' using errcode = '22023';
  end if;
  execute format('drop schema %I cascade', t.schema_name);
  delete from public.tenants where id = t.id;
  return true;
end;
$$;
comment on function public.delete_tenant(text) is
  'Deletes the signed-in admin''s tenant in one transaction: its schema and every row, its users, sessions and subscriptions. confirm_name must be the tenant''s name.';
grant execute on function public.delete_tenant(text) to stoflow_admin;

--! Previous: sha1:d0dd68b739a2b76f051a29bc1d3cf82552d2c0b6
--! Hash: sha1:95a158453d6e85c9b957ef9e26dabe0bcfad7360
--! Message: Operators: tenant step failures isolated, tenant maintenance; session check in the request's transaction; constraint messages; bounded texts

-- Enter migration here (idempotent while it is current.sql)

-- operators2: one tenant's failed DDL step never stops the rest; uncommitted steps can be edited.
create table if not exists app_private.tenant_migration_failures (
  schema_name text primary key references app_private.tenant_schemas on delete cascade,
  step_version int not null,
  step_name text not null,
  sqlstate text not null,
  message text not null,
  failed_at timestamptz not null default now()
);
comment on table app_private.tenant_migration_failures is
  'The last tenant DDL step that failed for a schema (kept until the schema migrates), so operators see which tenant lags and why.';
comment on column app_private.tenant_migration_failures.schema_name is 'The schema the step failed on.';
comment on column app_private.tenant_migration_failures.step_version is 'Version of the step that failed.';
comment on column app_private.tenant_migration_failures.step_name is 'Name of the step that failed.';
comment on column app_private.tenant_migration_failures.sqlstate is 'PostgreSQL''s error code.';
comment on column app_private.tenant_migration_failures.message is 'PostgreSQL''s error message.';
comment on column app_private.tenant_migration_failures.failed_at is 'When the step failed (the start of its transaction).';
alter table app_private.tenant_migration_failures enable row level security;

create or replace function app_private.migrate_tenant_schema(target text) returns text
  language plpgsql
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  step record;
  error_state text;
  error_message text;
begin
  for step in select s.version, s.name from app_private.tenant_ddl_steps s, app_private.tenant_schemas ts
               where ts.schema_name = target and s.version > ts.version order by s.version loop
    begin
      perform app_private.apply_tenant_ddl_step(target, step.version);
    exception when others then
      get stacked diagnostics error_state = returned_sqlstate, error_message = message_text;
      insert into app_private.tenant_migration_failures (schema_name, step_version, step_name, sqlstate, message)
        values (target, step.version, step.name, error_state, error_message)
        on conflict (schema_name) do update set step_version = excluded.step_version, step_name = excluded.step_name,
          sqlstate = excluded.sqlstate, message = excluded.message, failed_at = excluded.failed_at;
      return format('step %s "%s": %s [%s]', step.version, step.name, error_message, error_state);
    end;
  end loop;
  delete from app_private.tenant_migration_failures where schema_name = target;
  return null;
end;
$$;
comment on function app_private.migrate_tenant_schema(text) is
  'Brings one tenant schema up to the last DDL step, each step in a subtransaction: at the first step that fails, the schema keeps the steps before it, the failure is recorded in tenant_migration_failures and returned as one line (step, PostgreSQL''s message and code); NULL when the schema is current.';

create or replace function app_private.apply_tenant_ddl_step(target text, step_version int) returns void
  language plpgsql
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  perform 1 from app_private.tenant_schemas where schema_name = target for update;
  execute replace((select sql from app_private.tenant_ddl_steps where version = step_version), '{schema}', target);
  update app_private.tenant_schemas set version = greatest(version, step_version), migrated_at = now()
   where schema_name = target;
end;
$$;
comment on function app_private.apply_tenant_ddl_step(text, int) is
  'Runs one tenant DDL step on one schema and records that the schema has it (also used to re-run an edited, uncommitted step).';

drop function if exists app_private.pending_tenant_schemas(int);
create or replace function app_private.pending_tenant_schemas(max_rows int, failed_since timestamptz, only_tenant int default null)
  returns setof text
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  select ts.schema_name from app_private.tenant_schemas ts
   where ts.version < (select coalesce(max(version), 0) from app_private.tenant_ddl_steps)
     and (only_tenant is null or ts.tenant_id = only_tenant)
     and not exists (select 1 from app_private.tenant_migration_failures f
                      where f.schema_name = ts.schema_name and f.failed_at >= failed_since)
   order by ts.tenant_id nulls first
   limit max_rows
$$;
comment on function app_private.pending_tenant_schemas(int, timestamptz, int) is
  'Up to max_rows schemas that miss at least one tenant DDL step, template first, leaving out those that failed since failed_since (this run); only_tenant: that tenant''s schema alone.';

create or replace function app_private.lagging_tenant_schemas()
  returns table (tenant_id int, schema_name text, version int, latest int, missing text[], failure text, failed_at timestamptz)
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  select ts.tenant_id, ts.schema_name, ts.version, tpl.version,
         array(select s.name from app_private.tenant_ddl_steps s where s.version > ts.version order by s.version),
         case when f.schema_name is not null
              then format('step %s "%s": %s [%s]', f.step_version, f.step_name, f.message, f.sqlstate) end,
         f.failed_at
    from app_private.tenant_schemas ts
    join app_private.tenant_schemas tpl on tpl.schema_name = 'tenant_template'
    left join app_private.tenant_migration_failures f on f.schema_name = ts.schema_name
   where ts.tenant_id is not null and ts.version < tpl.version
   order by ts.tenant_id
$$;
comment on function app_private.lagging_tenant_schemas() is
  'Every tenant schema behind tenant_template: its version, the steps it lacks, and the last failure recorded for it (for tenants:check, tenants:migrate --dry-run).';

create or replace function app_private.assert_tenant_available(tenant_id int) returns int
  language plpgsql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  if exists (select 1 from app_private.tenant_schemas ts, app_private.tenant_schemas tpl
              where ts.tenant_id = assert_tenant_available.tenant_id and tpl.schema_name = 'tenant_template'
                and ts.version < tpl.version) then
    raise exception 'This tenant''s data is under maintenance; retry later' using errcode = 'SFMNT';
  end if;
  return tenant_id;
end;
$$;
comment on function app_private.assert_tenant_available(int) is
  'Returns tenant_id when its schema has every tenant DDL step of the template (the GraphQL schema is built from the template); raises SFMNT (503 TENANT_MAINTENANCE) while it lags, so its requests never meet a half-migrated schema.';

drop function if exists app_private.server_status() cascade;
create function app_private.server_status()
  returns table (applied_migrations int, tenant_schemas_behind int, tenants int, lagging_tenants int[])
  language sql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  select (select count(*)::int from graphile_migrate.migrations),
         (select count(*)::int from app_private.lagging_tenant_schemas()),
         (select count(*)::int from public.tenants),
         array(select l.tenant_id from app_private.lagging_tenant_schemas() l limit 20)
$$;
comment on function app_private.server_status() is
  'Applied migrations, tenant schemas missing a DDL step (and the first 20 of their tenant ids), and the number of tenants: for the readiness check and metrics.';
grant execute on function app_private.server_status() to stoflow_authenticator;

create or replace function app_private.add_tenant_ddl_step(step_name text, step_sql text) returns int
  language plpgsql
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  existing record;
  new_version int;
  target text;
  failure text;
begin
  select version, sql, created_at into existing from app_private.tenant_ddl_steps where name = step_name;
  if found then
    if existing.sql is not distinct from step_sql then
      return existing.version;
    end if;
    -- A committed migration records itself in the transaction that adds its steps; a step added
    -- later comes from current.sql (db watch) and may still change.
    if existing.created_at <= (select max(date) from graphile_migrate.migrations) then
      raise exception 'Tenant DDL step "%" is committed and cannot change; add a new step instead', step_name
        using errcode = '22023';
    end if;
    update app_private.tenant_ddl_steps set sql = step_sql where version = existing.version;
    for target in select schema_name from app_private.tenant_schemas where version >= existing.version
                   order by tenant_id nulls first loop
      begin
        perform app_private.apply_tenant_ddl_step(target, existing.version);
      exception when others then
        get stacked diagnostics failure = message_text;
        raise exception 'Tenant DDL step "%" changed, but its new SQL failed on %: %. An uncommitted step runs again on every change: write it so that it can run twice (if not exists, drop … if exists)',
          step_name, target, failure using errcode = '22023';
      end;
    end loop;
    return existing.version;
  end if;
  lock table app_private.tenant_ddl_steps in exclusive mode;
  select coalesce(max(version), 0) + 1 into new_version from app_private.tenant_ddl_steps;
  insert into app_private.tenant_ddl_steps (version, name, sql) values (new_version, step_name, step_sql);
  perform app_private.apply_tenant_ddl('tenant_template');
  return new_version;
end;
$$;
comment on function app_private.add_tenant_ddl_step(text, text) is
  'Appends a tenant DDL step (for migrations) and applies it to tenant_template at once; tenant schemas catch up in batches afterwards (npm run migrate). Idempotent for the same name and SQL. A step not yet committed (added by current.sql after the last committed migration) may change: its new SQL, which must be re-runnable, is run again on the template and on every schema that has it; a committed step never changes.';

-- hostile traffic: every text a response can carry has a width, so the cost estimate of a query
-- can weigh what it returns (a description counts as what it can hold, not as one value). Longer
-- values already stored make the step fail for that tenant only: see README, "When a tenant step fails".
select app_private.add_tenant_ddl_step('bounded texts', $step$
  alter table {schema}.products alter column description type varchar(10000);
  alter table {schema}.ai_generations_log alter column generated_text type varchar(10000);
  alter table {schema}.publications_history alter column error_message type varchar(2000);
  alter table {schema}.vinted_products alter column last_error type varchar(2000);
$step$);


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
  perform app_private.assert_tenant_available(live.tenant_id); -- SFMNT while the tenant's schema lags
end
$$;
comment on function app_private.require_live_session(int, int, text, uuid) is
  'Raises SFSES unless the session may act now with this tenant and role: the session exists for this user, is not revoked, holds the user''s current credential version (a password change or deactivation raises it), the user and tenant are active, and the token''s tenant and role are still the user''s; raises SFMNT (503 TENANT_MAINTENANCE) while the tenant''s schema lags behind the template. The one place the per-request check lives.';

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

-- clients-b: messages a client can act on, for every constraint of the API's tables
create table if not exists app_private.constraint_messages (
  table_name text not null,
  constraint_name text not null,
  field text not null,
  message text not null,
  primary key (table_name, constraint_name)
);
comment on table app_private.constraint_messages is
  'What a client is told when a write breaks a constraint: the GraphQL input field at fault and a sentence a seller''s app can show. The constraint name stays in the server log. Add a row beside every new check, foreign key or unique constraint (a test fails while one lacks it).';
comment on column app_private.constraint_messages.table_name is 'The table, without its schema (tenant tables: as in tenant_template, same in every client_<id>).';
comment on column app_private.constraint_messages.constraint_name is 'The constraint (or unique index) name PostgreSQL reports.';
comment on column app_private.constraint_messages.field is 'The GraphQL input field a client sent, as spelled in the schema (camelCase).';
comment on column app_private.constraint_messages.message is 'The sentence the client gets, in words a seller understands.';
alter table app_private.constraint_messages enable row level security;

insert into app_private.constraint_messages (table_name, constraint_name, field, message) values
  ('tiers', 'tiers_pkey', 'id', 'A tier with this id already exists'),
  ('tiers', 'tiers_id_check', 'id', 'id must be lower-case letters, digits and underscores, starting with a letter'),
  ('tiers', 'tiers_rank_key', 'rank', 'Another tier already has this rank'),
  ('tiers', 'tiers_price_monthly_check', 'priceMonthly', 'priceMonthly must be zero or more'),
  ('tiers', 'tiers_max_products_check', 'maxProducts', 'maxProducts must be zero or more'),
  ('tiers', 'tiers_max_platforms_check', 'maxPlatforms', 'maxPlatforms must be zero or more'),
  ('tiers', 'tiers_ai_credits_monthly_check', 'aiCreditsMonthly', 'aiCreditsMonthly must be zero or more'),
  ('tenants', 'tenants_pkey', 'id', 'A tenant with this id already exists'),
  ('tenants', 'tenants_email_key', 'email', 'An account with this e-mail address already exists'),
  ('tenants', 'tenants_email_check', 'email', 'email must be an e-mail address (name@example.com)'),
  ('tenants', 'tenants_name_check', 'name', 'name must not be blank'),
  ('tenants', 'tenants_subscription_tier_fkey', 'subscriptionTier', 'subscriptionTier must be one of the tiers on offer'),
  ('tenants', 'tenants_max_products_check', 'maxProducts', 'maxProducts must be zero or more'),
  ('tenants', 'tenants_max_platforms_check', 'maxPlatforms', 'maxPlatforms must be zero or more'),
  ('tenants', 'tenants_ai_credits_monthly_check', 'aiCreditsMonthly', 'aiCreditsMonthly must be zero or more'),
  ('users', 'users_pkey', 'id', 'A user with this id already exists'),
  ('users', 'users_email_key', 'email', 'A user with this e-mail address already exists'),
  ('users', 'users_email_check', 'email', 'email must be an e-mail address (name@example.com)'),
  ('users', 'users_tenant_id_fkey', 'tenantId', 'tenantId must be an existing tenant'),
  ('subscriptions', 'subscriptions_pkey', 'id', 'A subscription period with this id already exists'),
  ('subscriptions', 'subscriptions_one_open_per_tenant', 'tenantId', 'This tenant already has an open subscription period'),
  ('subscriptions', 'subscriptions_check', 'endDate', 'endDate must not be before startDate'),
  ('subscriptions', 'subscriptions_currency_check', 'currency', 'currency must be a three-letter ISO 4217 code (EUR)'),
  ('subscriptions', 'subscriptions_price_monthly_check', 'priceMonthly', 'priceMonthly must be zero or more'),
  ('subscriptions', 'subscriptions_tenant_id_fkey', 'tenantId', 'tenantId must be an existing tenant'),
  ('subscriptions', 'subscriptions_tier_fkey', 'tier', 'tier must be one of the tiers on offer'),
  ('platform_mappings', 'platform_mappings_pkey', 'id', 'A platform mapping with this id already exists'),
  ('platform_mappings', 'platform_mappings_platform_mapping_type_our_value_key', 'ourValue', 'This value is already mapped for this platform and mapping type'),
  ('platform_mappings', 'platform_mappings_mapping_type_check', 'mappingType', 'mappingType must be one of brand, category, color, size, condition, material'),
  ('platform_mappings', 'platform_mappings_our_value_check', 'ourValue', 'ourValue must not be blank'),
  ('platform_mappings', 'platform_mappings_platform_check', 'platform', 'platform must be lower-case letters, digits and underscores, starting with a letter (vinted, ebay)'),
  ('platform_mappings', 'platform_mappings_usage_count_check', 'usageCount', 'usageCount must be zero or more'),
  ('vinted_status_transitions', 'vinted_status_transitions_pkey', 'toStatus', 'This status transition already exists'),
  ('vinted_status_transitions', 'vinted_status_transitions_check', 'toStatus', 'toStatus must differ from fromStatus'),
  ('products', 'products_pkey', 'sku', 'You already have a product with this SKU'),
  ('products', 'products_sku_check', 'sku', 'sku must not be blank nor start or end with a space'),
  ('products', 'products_title_check', 'title', 'title must not be blank'),
  ('products', 'products_price_check', 'price', 'price must be zero or more'),
  ('products', 'products_cost_price_check', 'costPrice', 'costPrice must be zero or more'),
  ('products', 'products_stock_quantity_check', 'stockQuantity', 'stockQuantity must be zero or more'),
  ('vinted_products', 'vinted_products_pkey', 'sku', 'This product already has a Vinted listing'),
  ('vinted_products', 'vinted_products_sku_fkey', 'sku', 'sku must be the SKU of one of your products'),
  ('vinted_products', 'vinted_products_id_vinted_key', 'idVinted', 'Another of your listings already has this Vinted id'),
  ('vinted_products', 'vinted_products_price_vinted_check', 'priceVinted', 'priceVinted must be zero or more'),
  ('vinted_products', 'vinted_products_views_count_check', 'viewsCount', 'viewsCount must be zero or more'),
  ('vinted_products', 'vinted_products_favorites_count_check', 'favoritesCount', 'favoritesCount must be zero or more'),
  ('vinted_products', 'vinted_products_error_count_check', 'errorCount', 'errorCount must be zero or more'),
  ('publications_history', 'publications_history_pkey', 'id', 'A publication attempt with this id already exists'),
  ('publications_history', 'publications_history_sku_fkey', 'sku', 'sku must be the SKU of one of your products'),
  ('publications_history', 'publications_history_platform_check', 'platform', 'platform must be lower-case letters, digits and underscores, starting with a letter (vinted, ebay)'),
  ('publications_history', 'publications_history_check', 'completedAt', 'completedAt must not be before startedAt'),
  ('publications_history', 'publications_history_duration_seconds_check', 'durationSeconds', 'durationSeconds must be zero or more'),
  ('ai_generations_log', 'ai_generations_log_pkey', 'id', 'An AI generation with this id already exists'),
  ('ai_generations_log', 'ai_generations_log_sku_fkey', 'sku', 'sku must be the SKU of one of your products'),
  ('ai_generations_log', 'ai_generations_log_platform_check', 'platform', 'platform must be lower-case letters, digits and underscores, starting with a letter (vinted, ebay)'),
  ('ai_generations_log', 'ai_generations_log_cost_check', 'cost', 'cost must be zero or more'),
  ('ai_generations_log', 'ai_generations_log_tokens_used_check', 'tokensUsed', 'tokensUsed must be zero or more'),
  ('ai_generations_log', 'ai_generations_log_generation_time_ms_check', 'generationTimeMs', 'generationTimeMs must be zero or more')
on conflict (table_name, constraint_name) do update set field = excluded.field, message = excluded.message;

-- A column name as its GraphQL field (cost_price → costPrice).
create or replace function app_private.graphql_field_name(column_name text) returns text
  language sql immutable
  set search_path = pg_catalog, pg_temp
  as $$
  select string_agg(case when i = 1 then part else initcap(part) end, '' order by i)
    from unnest(string_to_array(column_name, '_')) with ordinality as t(part, i)
$$;
comment on function app_private.graphql_field_name(text) is
  'A column name as PostGraphile spells its GraphQL field (cost_price → costPrice): the field a not-null refusal names.';

-- What the server loads once at start: the rows above, plus one "… is required" per not-null
-- column of the API's tables (keyed by column: PostgreSQL names the column, not the constraint).
create or replace function app_private.constraint_messages()
  returns table (table_name text, constraint_name text, column_name text, field text, message text)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  select m.table_name, m.constraint_name, null, m.field, m.message from app_private.constraint_messages m
  union all
  select c.relname::text, null, a.attname::text, app_private.graphql_field_name(a.attname),
         app_private.graphql_field_name(a.attname) || ' is required'
    from pg_attribute a join pg_class c on c.oid = a.attrelid
   where c.relnamespace in ('public'::regnamespace, 'tenant_template'::regnamespace)
     and c.relkind = 'r' and a.attnum > 0 and a.attnotnull and not a.attisdropped
$$;
comment on function app_private.constraint_messages() is
  'The field and message of every constraint of the API''s tables (and of every not-null column), loaded by the server at start to turn a constraint violation into an error a client can act on.';
grant execute on function app_private.constraint_messages() to stoflow_authenticator;

-- What each enum value means, for the API's docs: one `@value <label> <meaning>` smart tag per
-- value (read by src/graphql/descriptions-plugin.ts), then the type's own description.
comment on type public.vinted_status is E'@value draft Prepared, not yet listed on Vinted\n@value published Listed on Vinted, for sale\n@value sold Sold on Vinted (final)\n@value deleted Taken off Vinted (final)\n@value error The last sync with Vinted failed (see lastError); it can be retried\nLife cycle of a product''s listing on Vinted.';
comment on type public.publication_status is E'@value pending Started, no outcome yet\n@value success Done on the platform\n@value error Failed on the platform (see errorCode and errorMessage)\nOutcome of a publication attempt.';
comment on type public.publication_action is E'@value create List the product on the platform\n@value update Change the product''s listing on the platform\n@value delete Take the product''s listing off the platform\nWhat a publication attempt did on a platform.';
comment on type public.subscription_status is E'@value active The period in force\n@value suspended Paused: the tenant reads but does not write\n@value cancelled Ended by the tenant or by staff\n@value expired Ended by a change of tier, or by its end date\nState of one subscription period.';
comment on type public.tenant_status is E'@value active Reads and writes\n@value suspended Reads only, until reactivated\n@value cancelled Reads only: the subscription has ended\nState of a tenant''s subscription as a whole.';
comment on type public.user_role is E'@value admin Manages users and the subscription, and writes products\n@value user Writes products and listings\n@value viewer Reads only\nWhat a user may do in their tenant: admin (manage users and subscription), user (write products), viewer (read).';

comment on column public.tenant_usage.tier is 'The tier the tenant subscribes to.';
comment on column public.tenant_usage.active_products is 'Active products now (inactive ones do not count).';
comment on column public.tenant_usage.max_products is 'Active products the tier allows; null: unlimited.';
comment on column public.tenant_usage.platforms_used is 'Distinct platforms ever published to (deleting products does not lower it).';
comment on column public.tenant_usage.max_platforms is 'Distinct platforms the tier allows; null: unlimited.';
comment on column public.tenant_usage.ai_credits_used is 'AI generations not served from cache this calendar month (UTC).';
comment on column public.tenant_usage.ai_credits_monthly is 'AI generations the tier allows each month; null: unlimited.';
comment on column public.tenant_usage.ai_credits_remaining is 'AI generations left this month; null: unlimited.';

-- Each argument's meaning, for the API's docs: one `@arg <name> <meaning>` smart tag per
-- argument (PostgreSQL has no comment on an argument), then the function's own description.
comment on function public.change_subscription_tier(text) is
  E'@arg new_tier The tier to move to: starter, standard, premium, business or enterprise\nMoves the signed-in admin''s tenant to another tier: the current period ends (expired), a new one opens, the limits follow at once. A downgrade below current usage is refused (LIMIT_REACHED): nothing is deleted behind the seller''s back.';
comment on function public.delete_tenant(text) is
  E'@arg confirm_name The tenant''s name, exactly: it confirms the deletion\nDeletes the signed-in admin''s tenant in one transaction: its schema and every row, its users, sessions, subscriptions and usage. confirm_name must be the tenant''s name. It waits for the tenant''s writers without ever deadlocking them; after about five seconds of constant traffic it gives up with CONFLICT (retry).';

-- Unused since the structure check reads the catalog once (000005): the SQL coverage report found it.
drop function if exists app_private.tenant_schema_signature(text);

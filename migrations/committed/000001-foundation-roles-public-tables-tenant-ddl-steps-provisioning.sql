--! Previous: -
--! Hash: sha1:63a9bef0e71c828c4f8a1932200bd56332c73e88
--! Message: foundation: roles, public tables, tenant DDL steps, provisioning, structure check

-- Idempotent while it is current.sql: everything this migration owns is dropped first.
drop schema if exists app_private cascade;
drop schema if exists tenant_template cascade;
drop table if exists public.platform_mappings, public.subscriptions, public.users, public.tenants, public.tiers cascade;
drop type if exists public.user_role, public.tenant_status, public.subscription_status,
  public.vinted_status, public.publication_action, public.publication_status cascade;

------------------------------------------------------------------------------------------------
-- Roles (cluster-wide, so created only when missing). The server logs in as
-- stoflow_authenticator, which holds no privilege of its own (NOINHERIT) and switches per request.
------------------------------------------------------------------------------------------------
do $$
declare
  r text;
begin
  foreach r in array array['stoflow_authenticator', 'stoflow_anonymous', 'stoflow_viewer',
                           'stoflow_user', 'stoflow_admin', 'stoflow_auth'] loop
    if not exists (select 1 from pg_roles where rolname = r) then
      execute format('create role %I nologin', r);
    end if;
  end loop;
end $$;
alter role stoflow_authenticator noinherit;
grant stoflow_anonymous to stoflow_viewer;
grant stoflow_viewer to stoflow_user;
grant stoflow_user to stoflow_admin;
grant stoflow_anonymous, stoflow_viewer, stoflow_user, stoflow_admin, stoflow_auth to stoflow_authenticator;

do $$
begin
  execute format('revoke all on database %I from public', current_database());
  execute format('grant connect on database %I to stoflow_authenticator', current_database());
end $$;

-- Nothing is granted to PUBLIC: not the schema, not functions created from now on.
revoke all on schema public from public;
grant usage on schema public to stoflow_anonymous, stoflow_auth;
alter default privileges revoke all on functions from public;
alter default privileges revoke all on sequences from public;
alter default privileges revoke all on tables from public;

------------------------------------------------------------------------------------------------
-- Private schema: secrets, the tenant DDL steps, and SECURITY DEFINER functions. It is never
-- exposed by PostGraphile; API roles may only call the few session helpers granted below.
------------------------------------------------------------------------------------------------
create schema app_private;
comment on schema app_private is 'Secrets, tenant DDL steps and privileged functions; never exposed by the API.';
grant usage on schema app_private to stoflow_anonymous, stoflow_auth;

create function app_private.current_tenant_id() returns int
  language sql stable parallel safe
  as $$ select nullif(current_setting('jwt.claims.tenant_id', true), '')::int $$;
comment on function app_private.current_tenant_id() is
  'The tenant of the current request, from the jwt.claims.tenant_id setting; NULL when anonymous.';

create function app_private.current_user_id() returns int
  language sql stable parallel safe
  as $$ select nullif(current_setting('jwt.claims.user_id', true), '')::int $$;
comment on function app_private.current_user_id() is
  'The user of the current request, from the jwt.claims.user_id setting; NULL when anonymous.';

create function app_private.current_tenant_schema() returns text
  language sql stable parallel safe
  as $$ select 'client_' || app_private.current_tenant_id() $$;
comment on function app_private.current_tenant_schema() is
  'The schema (client_<id>) of the current request''s tenant; NULL when anonymous. Tenant-table policies compare it with their own schema.';

grant execute on function app_private.current_tenant_id(), app_private.current_user_id(),
  app_private.current_tenant_schema() to stoflow_anonymous;

create function app_private.tg__set_updated_at() returns trigger
  language plpgsql
  as $$
begin
  new.updated_at := now();
  return new;
end;
$$;
comment on function app_private.tg__set_updated_at() is 'Trigger: keeps updated_at at the time of the last change.';

------------------------------------------------------------------------------------------------
-- Shared types. One copy for every tenant: PostGraphile prepares statements per connection, and a
-- type owned by each tenant schema would fail to cast for the next tenant on that connection.
------------------------------------------------------------------------------------------------
create type public.user_role as enum ('admin', 'user', 'viewer');
comment on type public.user_role is 'What a user may do in their tenant: admin (manage users and subscription), user (write products), viewer (read).';
create type public.tenant_status as enum ('active', 'suspended', 'cancelled');
comment on type public.tenant_status is 'State of a tenant''s subscription as a whole.';
create type public.subscription_status as enum ('active', 'cancelled', 'expired', 'suspended');
comment on type public.subscription_status is 'State of one subscription period.';
create type public.vinted_status as enum ('draft', 'published', 'sold', 'deleted', 'error');
comment on type public.vinted_status is 'Life cycle of a product''s listing on Vinted.';
create type public.publication_action as enum ('create', 'update', 'delete');
comment on type public.publication_action is 'What a publication attempt did on a platform.';
create type public.publication_status as enum ('pending', 'success', 'error');
comment on type public.publication_status is 'Outcome of a publication attempt.';

------------------------------------------------------------------------------------------------
-- Tiers: the plans and their limits, as data. NULL means unlimited.
------------------------------------------------------------------------------------------------
create table public.tiers (
  id text primary key check (id ~ '^[a-z][a-z0-9_]*$'),
  name text not null,
  rank int not null unique,
  price_monthly numeric(10, 2) not null check (price_monthly >= 0),
  max_products int check (max_products >= 0),
  max_platforms int check (max_platforms >= 0),
  ai_credits_monthly int not null check (ai_credits_monthly >= 0)
);
comment on table public.tiers is 'Subscription plans and the limits they grant. A NULL limit means unlimited.';
comment on column public.tiers.id is 'Stable code of the tier (starter, standard, premium, business, enterprise).';
comment on column public.tiers.name is 'Display name of the tier.';
comment on column public.tiers.rank is 'Order of the tiers, cheapest first.';
comment on column public.tiers.price_monthly is 'Monthly price in euros.';
comment on column public.tiers.max_products is 'Most active products a tenant may hold; NULL = unlimited.';
comment on column public.tiers.max_platforms is 'Most distinct platforms a tenant may publish to; NULL = unlimited.';
comment on column public.tiers.ai_credits_monthly is 'AI generations (not served from cache) a tenant may log per calendar month.';

insert into public.tiers (id, name, rank, price_monthly, max_products, max_platforms, ai_credits_monthly) values
  ('starter', 'Starter', 1, 0, 50, 2, 0),
  ('standard', 'Standard', 2, 19.00, 200, 5, 100),
  ('premium', 'Premium', 3, 49.00, null, null, 500),
  ('business', 'Business', 4, 99.00, null, null, 2000),
  ('enterprise', 'Enterprise', 5, 299.00, null, null, 10000);

alter table public.tiers enable row level security;
create policy select_all on public.tiers for select using (true);
grant select on public.tiers to stoflow_anonymous, stoflow_auth;

------------------------------------------------------------------------------------------------
-- Tenants
------------------------------------------------------------------------------------------------
create table public.tenants (
  id int primary key generated always as identity,
  name varchar(255) not null check (btrim(name) <> ''),
  email varchar(255) not null check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  subscription_tier text not null default 'starter' references public.tiers on update cascade,
  subscription_status public.tenant_status not null default 'active',
  max_products int check (max_products >= 0),
  max_platforms int check (max_platforms >= 0),
  ai_credits_monthly int not null default 0 check (ai_credits_monthly >= 0),
  is_active boolean not null default true,
  schema_name text not null generated always as ('client_' || id) stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index tenants_email_key on public.tenants (lower(email));
create index tenants_subscription_tier_idx on public.tenants (subscription_tier);
comment on table public.tenants is 'A customer of Stoflow (a company or a person). Each tenant has its own schema client_<id>.';
comment on column public.tenants.id is 'Identifier of the tenant; its schema is client_<id>.';
comment on column public.tenants.name is 'Name of the customer.';
comment on column public.tenants.email is 'Main contact e-mail, unique case-insensitively.';
comment on column public.tenants.subscription_tier is 'Current tier; the limits below follow it.';
comment on column public.tenants.subscription_status is 'active, suspended or cancelled.';
comment on column public.tenants.max_products is 'Most active products; copied from the tier, NULL = unlimited.';
comment on column public.tenants.max_platforms is 'Most distinct platforms; copied from the tier, NULL = unlimited.';
comment on column public.tenants.ai_credits_monthly is 'AI credits per calendar month; copied from the tier.';
comment on column public.tenants.is_active is 'False when the tenant is deactivated: its users are refused.';
comment on column public.tenants.schema_name is 'The PostgreSQL schema that holds this tenant''s tables.';
comment on column public.tenants.created_at is 'When the tenant registered.';
comment on column public.tenants.updated_at is 'When the tenant was last changed.';

create function app_private.tg_tenants__copy_tier_limits() returns trigger
  language plpgsql
  as $$
begin
  select t.max_products, t.max_platforms, t.ai_credits_monthly
    into new.max_products, new.max_platforms, new.ai_credits_monthly
    from public.tiers t where t.id = new.subscription_tier;
  return new;
end;
$$;
comment on function app_private.tg_tenants__copy_tier_limits() is
  'Trigger: a tenant''s limits follow its tier when it is created or changes tier.';

create trigger _100_timestamps before update on public.tenants
  for each row execute function app_private.tg__set_updated_at();
create trigger _200_copy_tier_limits before insert or update of subscription_tier on public.tenants
  for each row execute function app_private.tg_tenants__copy_tier_limits();

alter table public.tenants enable row level security;
create policy select_own on public.tenants for select to stoflow_viewer
  using (id = (select app_private.current_tenant_id()));
grant select on public.tenants to stoflow_viewer;

------------------------------------------------------------------------------------------------
-- Users. The password hash lives in app_private.user_secrets, out of reach of every API role.
------------------------------------------------------------------------------------------------
create table public.users (
  id int primary key generated always as identity,
  tenant_id int not null references public.tenants on delete cascade,
  email varchar(255) not null check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  full_name varchar(255),
  phone varchar(50),
  role public.user_role not null default 'user',
  is_active boolean not null default true,
  is_verified boolean not null default false,
  last_login timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index users_email_key on public.users (lower(email));
create index users_tenant_id_idx on public.users (tenant_id);
comment on table public.users is 'A person who signs in to Stoflow. Each user belongs to one tenant.';
comment on column public.users.id is 'Identifier of the user.';
comment on column public.users.tenant_id is 'The tenant this user belongs to.';
comment on column public.users.email is 'Login e-mail, unique case-insensitively across all tenants.';
comment on column public.users.full_name is 'Name shown in the application.';
comment on column public.users.phone is 'Phone number, free form.';
comment on column public.users.role is 'admin, user or viewer.';
comment on column public.users.is_active is 'False when the user is deactivated: they are refused.';
comment on column public.users.is_verified is 'True once the e-mail address is verified.';
comment on column public.users.last_login is 'When the user last signed in.';
comment on column public.users.created_at is 'When the user was created.';
comment on column public.users.updated_at is 'When the user was last changed.';

create trigger _100_timestamps before update on public.users
  for each row execute function app_private.tg__set_updated_at();

alter table public.users enable row level security;
create policy select_same_tenant on public.users for select to stoflow_viewer
  using (tenant_id = (select app_private.current_tenant_id()));
grant select on public.users to stoflow_viewer;

create table app_private.user_secrets (
  user_id int primary key references public.users on delete cascade,
  password_hash text not null check (password_hash ~ '^\$2[aby]\$\d\d\$'),
  password_changed_at timestamptz not null default now()
);
comment on table app_private.user_secrets is 'Password hashes (bcrypt, made in Node). Readable by no API role.';
comment on column app_private.user_secrets.user_id is 'The user this secret belongs to.';
comment on column app_private.user_secrets.password_hash is 'bcrypt hash of the password.';
comment on column app_private.user_secrets.password_changed_at is 'When the password was last set.';
alter table app_private.user_secrets enable row level security;

------------------------------------------------------------------------------------------------
-- Subscriptions: one row per subscription period; at most one open row per tenant.
------------------------------------------------------------------------------------------------
create table public.subscriptions (
  id int primary key generated always as identity,
  tenant_id int not null references public.tenants on delete cascade,
  tier text not null references public.tiers on update cascade,
  price_monthly numeric(10, 2) not null check (price_monthly >= 0),
  currency char(3) not null default 'EUR' check (currency ~ '^[A-Z]{3}$'),
  start_date timestamptz not null default now(),
  end_date timestamptz check (end_date >= start_date),
  status public.subscription_status not null default 'active',
  payment_method varchar(50),
  last_payment_date timestamptz,
  next_billing_date timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index subscriptions_tenant_id_idx on public.subscriptions (tenant_id);
create unique index subscriptions_one_open_per_tenant on public.subscriptions (tenant_id) where end_date is null;
comment on table public.subscriptions is 'History of a tenant''s subscriptions; the row with no end date is the current one.';
comment on column public.subscriptions.id is 'Identifier of the subscription period.';
comment on column public.subscriptions.tenant_id is 'The subscribing tenant.';
comment on column public.subscriptions.tier is 'The tier subscribed to.';
comment on column public.subscriptions.price_monthly is 'Monthly price in the currency below, at subscription time.';
comment on column public.subscriptions.currency is 'ISO 4217 currency code.';
comment on column public.subscriptions.start_date is 'When this period started.';
comment on column public.subscriptions.end_date is 'When this period ended; NULL for the current subscription.';
comment on column public.subscriptions.status is 'active, cancelled, expired or suspended.';
comment on column public.subscriptions.payment_method is 'stripe, paypal, etc.';
comment on column public.subscriptions.last_payment_date is 'When the last payment was received.';
comment on column public.subscriptions.next_billing_date is 'When the next payment is due.';
comment on column public.subscriptions.created_at is 'When the row was created.';
comment on column public.subscriptions.updated_at is 'When the row was last changed.';

create trigger _100_timestamps before update on public.subscriptions
  for each row execute function app_private.tg__set_updated_at();

alter table public.subscriptions enable row level security;
create policy select_same_tenant on public.subscriptions for select to stoflow_viewer
  using (tenant_id = (select app_private.current_tenant_id()));
grant select on public.subscriptions to stoflow_viewer;

------------------------------------------------------------------------------------------------
-- Platform mappings: reference data shared by all tenants.
------------------------------------------------------------------------------------------------
create table public.platform_mappings (
  id int primary key generated always as identity,
  platform varchar(50) not null check (platform ~ '^[a-z][a-z0-9_]*$'),
  mapping_type varchar(50) not null
    check (mapping_type in ('brand', 'category', 'color', 'size', 'condition', 'material')),
  our_value varchar(255) not null check (btrim(our_value) <> ''),
  platform_value varchar(255) not null,
  platform_id int,
  usage_count int not null default 0 check (usage_count >= 0),
  notes text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (platform, mapping_type, our_value)
);
create index platform_mappings_our_value_idx on public.platform_mappings (our_value);
comment on table public.platform_mappings is 'How our standard values map to each platform''s (e.g. brand Nike to Vinted brand id 53).';
comment on column public.platform_mappings.id is 'Identifier of the mapping.';
comment on column public.platform_mappings.platform is 'vinted, ebay, etsy, etc.';
comment on column public.platform_mappings.mapping_type is 'brand, category, color, size, condition or material.';
comment on column public.platform_mappings.our_value is 'Our standardised value.';
comment on column public.platform_mappings.platform_value is 'The value on the platform.';
comment on column public.platform_mappings.platform_id is 'The platform''s id for the value, when it has one.';
comment on column public.platform_mappings.usage_count is 'How often the mapping was used (statistics).';
comment on column public.platform_mappings.notes is 'Free notes.';
comment on column public.platform_mappings.created_at is 'When the mapping was created.';
comment on column public.platform_mappings.updated_at is 'When the mapping was last changed.';

create trigger _100_timestamps before update on public.platform_mappings
  for each row execute function app_private.tg__set_updated_at();

alter table public.platform_mappings enable row level security;
create policy select_signed_in on public.platform_mappings for select to stoflow_viewer using (true);
grant select on public.platform_mappings to stoflow_viewer;

------------------------------------------------------------------------------------------------
-- Tenant DDL: one ordered list of steps, replayed for every tenant schema. In a step, {schema}
-- stands for the schema being built (tenant_template or client_<id>).
------------------------------------------------------------------------------------------------
create table app_private.tenant_ddl_steps (
  version int primary key check (version > 0),
  name text not null unique,
  sql text not null,
  created_at timestamptz not null default now()
);
comment on table app_private.tenant_ddl_steps is 'Ordered DDL steps that build a tenant schema; {schema} in sql is the schema being built.';
comment on column app_private.tenant_ddl_steps.version is 'Position of the step; a schema at version N has every step up to N.';
comment on column app_private.tenant_ddl_steps.name is 'Unique name of the step.';
comment on column app_private.tenant_ddl_steps.sql is 'The DDL, with {schema} for the schema name.';
comment on column app_private.tenant_ddl_steps.created_at is 'When the step was added.';
alter table app_private.tenant_ddl_steps enable row level security;

create table app_private.tenant_schemas (
  schema_name text primary key check (schema_name ~ '^(tenant_template|client_[1-9][0-9]*)$'),
  tenant_id int unique references public.tenants on delete cascade,
  version int not null default 0,
  migrated_at timestamptz,
  check ((schema_name = 'tenant_template') = (tenant_id is null))
);
comment on table app_private.tenant_schemas is 'Every schema built from the tenant DDL steps, with the last step it has.';
comment on column app_private.tenant_schemas.schema_name is 'tenant_template or client_<tenant id>.';
comment on column app_private.tenant_schemas.tenant_id is 'The tenant owning the schema; NULL for the template.';
comment on column app_private.tenant_schemas.version is 'The last DDL step applied to this schema.';
comment on column app_private.tenant_schemas.migrated_at is 'When a step was last applied.';
alter table app_private.tenant_schemas enable row level security;

create function app_private.apply_tenant_ddl(target text) returns int
  language plpgsql
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  current_version int;
  step record;
  applied int := 0;
begin
  select version into current_version from app_private.tenant_schemas
    where schema_name = target for update;
  if not found then
    raise exception 'Unknown tenant schema %', target using errcode = '22023';
  end if;
  for step in select version, sql from app_private.tenant_ddl_steps
              where version > current_version order by version loop
    execute replace(step.sql, '{schema}', target);
    current_version := step.version;
    applied := applied + 1;
  end loop;
  if applied > 0 then
    update app_private.tenant_schemas set version = current_version, migrated_at = now()
      where schema_name = target;
  end if;
  return applied;
end;
$$;
comment on function app_private.apply_tenant_ddl(text) is
  'Applies to one tenant schema every DDL step it does not have yet, in order; returns how many. Locks that schema''s row so two runs never apply a step twice.';

create function app_private.add_tenant_ddl_step(step_name text, step_sql text) returns int
  language plpgsql
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  existing record;
  new_version int;
begin
  select version, sql into existing from app_private.tenant_ddl_steps where name = step_name;
  if found then
    if existing.sql is distinct from step_sql then
      raise exception 'Tenant DDL step "%" already exists with other SQL; add a new step instead', step_name
        using errcode = '22023';
    end if;
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
  'Appends a tenant DDL step (for migrations) and applies it to tenant_template at once; tenant schemas catch up in batches afterwards (npm run migrate). Idempotent for the same name and SQL.';

create function app_private.pending_tenant_schemas(max_rows int) returns setof text
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  select schema_name from app_private.tenant_schemas
   where version < (select coalesce(max(version), 0) from app_private.tenant_ddl_steps)
   order by tenant_id nulls first
   limit max_rows
$$;
comment on function app_private.pending_tenant_schemas(int) is
  'Up to max_rows schemas that miss at least one tenant DDL step, template first.';

------------------------------------------------------------------------------------------------
-- Structure check: every tenant schema must have exactly the template's structure.
------------------------------------------------------------------------------------------------
create function app_private.tenant_schema_signature(target text) returns setof text
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  with rels as (
    select c.oid, c.relname, c.relkind, c.relrowsecurity, c.relacl
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = target and c.relkind in ('r', 'p', 'v', 'm', 'f')
  ), sig(line) as (
    select format('table %s (kind %s, row level security %s)', relname, relkind,
                  case when relrowsecurity then 'on' else 'off' end)
      from rels
    union all
    select format('column %s.%s %s%s%s%s', r.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                  case when a.attnotnull then ' not null' else '' end,
                  case when a.attidentity <> '' then ' identity ' || a.attidentity::text else '' end,
                  coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''))
      from rels r join pg_attribute a on a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped
      left join pg_attrdef d on d.adrelid = r.oid and d.adnum = a.attnum
    union all
    select format('constraint %s.%s %s', r.relname, con.conname, pg_get_constraintdef(con.oid))
      from rels r join pg_constraint con on con.conrelid = r.oid
    union all
    select format('index %s', pg_get_indexdef(i.indexrelid))
      from rels r join pg_index i on i.indrelid = r.oid
    union all
    select format('trigger %s', pg_get_triggerdef(t.oid))
      from rels r join pg_trigger t on t.tgrelid = r.oid and not t.tgisinternal
    union all
    select format('policy %s.%s %s to %s using (%s) check (%s)', p.tablename, p.policyname, p.cmd,
                  p.roles::text, coalesce(p.qual, ''), coalesce(p.with_check, ''))
      from pg_policies p where p.schemaname = target
    union all
    select format('grant %s on %s to %s', acl.privilege_type, r.relname, acl.grantee::regrole)
      from rels r, aclexplode(r.relacl) acl
    union all
    select format('grant %s (%s) on %s to %s', acl.privilege_type, a.attname, r.relname, acl.grantee::regrole)
      from rels r join pg_attribute a on a.attrelid = r.oid and a.attnum > 0, aclexplode(a.attacl) acl
    union all
    select format('grant %s on schema to %s', acl.privilege_type, acl.grantee::regrole)
      from pg_namespace n, aclexplode(n.nspacl) acl where n.nspname = target
  )
  select regexp_replace(s.line, '\m' || target || '\M', '{schema}', 'g') from sig s
$$;
comment on function app_private.tenant_schema_signature(text) is
  'One line per table, column, constraint, index, trigger, policy and grant of a schema, with the schema''s name replaced by {schema}.';

create function app_private.tenant_structure_drift()
  returns table (schema_name text, difference text, object text)
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  with template as (select app_private.tenant_schema_signature('tenant_template') as line),
  tenants as (select ts.schema_name, ts.version from app_private.tenant_schemas ts where ts.tenant_id is not null)
  select t.schema_name, 'missing', m.line
    from tenants t, lateral (select line from template
                             except select app_private.tenant_schema_signature(t.schema_name)) m
  union all
  select t.schema_name, 'unexpected', u.line
    from tenants t, lateral (select app_private.tenant_schema_signature(t.schema_name) as line
                             except select line from template) u
  union all
  select t.schema_name, 'version', format('at step %s, template at step %s', t.version, tpl.version)
    from tenants t, app_private.tenant_schemas tpl
   where tpl.schema_name = 'tenant_template' and t.version <> tpl.version
  order by 1, 2, 3
$$;
comment on function app_private.tenant_structure_drift() is
  'Every difference between a tenant schema and tenant_template (missing or unexpected objects, step version). No row means every tenant has exactly the template''s structure.';

------------------------------------------------------------------------------------------------
-- Step 1: the tenant tables of the seed, their indexes, policies and grants.
------------------------------------------------------------------------------------------------
create schema tenant_template;
comment on schema tenant_template is 'The tenant tables, always empty: new tenants replay its DDL steps and the GraphQL schema is built from it.';
insert into app_private.tenant_schemas (schema_name) values ('tenant_template');

select app_private.add_tenant_ddl_step('tenant tables', $step$
grant usage on schema {schema} to stoflow_viewer;

create table {schema}.products (
  sku varchar(100) primary key check (sku ~ '^\S(.*\S)?$'),
  title varchar(500) not null check (btrim(title) <> ''),
  description text,
  price numeric(10, 2) not null check (price >= 0),
  cost_price numeric(10, 2) check (cost_price >= 0),
  stock_quantity int not null default 1 check (stock_quantity >= 0),
  brand varchar(255),
  category varchar(255),
  size varchar(50),
  color varchar(100),
  material varchar(255),
  condition varchar(50),
  image_url_1 varchar(1000),
  image_url_2 varchar(1000),
  image_url_3 varchar(1000),
  image_url_4 varchar(1000),
  image_url_5 varchar(1000),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table {schema}.products is 'A product of the tenant, identified by its SKU.';
comment on column {schema}.products.sku is 'The tenant''s stock keeping unit, unique within the tenant.';
comment on column {schema}.products.title is 'Title of the product.';
comment on column {schema}.products.description is 'Description of the product.';
comment on column {schema}.products.price is 'Selling price in euros.';
comment on column {schema}.products.cost_price is 'Purchase price or cost in euros.';
comment on column {schema}.products.stock_quantity is 'Units in stock.';
comment on column {schema}.products.brand is 'Brand.';
comment on column {schema}.products.category is 'Category.';
comment on column {schema}.products.size is 'Size.';
comment on column {schema}.products.color is 'Colour.';
comment on column {schema}.products.material is 'Material.';
comment on column {schema}.products.condition is 'Condition: new, very good, good, etc.';
comment on column {schema}.products.image_url_1 is 'First image URL.';
comment on column {schema}.products.image_url_2 is 'Second image URL.';
comment on column {schema}.products.image_url_3 is 'Third image URL.';
comment on column {schema}.products.image_url_4 is 'Fourth image URL.';
comment on column {schema}.products.image_url_5 is 'Fifth image URL.';
comment on column {schema}.products.is_active is 'False when the product is archived; only active products count against the tier.';
comment on column {schema}.products.created_at is 'When the product was created.';
comment on column {schema}.products.updated_at is 'When the product was last changed.';
create trigger _100_timestamps before update on {schema}.products
  for each row execute function app_private.tg__set_updated_at();

create table {schema}.vinted_products (
  sku varchar(100) primary key references {schema}.products on delete cascade on update cascade,
  id_vinted bigint unique,
  url_vinted varchar(1000),
  status public.vinted_status not null default 'draft',
  price_vinted numeric(10, 2) check (price_vinted >= 0),
  published_at timestamptz,
  last_synced_at timestamptz,
  views_count bigint not null default 0 check (views_count >= 0),
  favorites_count bigint not null default 0 check (favorites_count >= 0),
  last_error text,
  error_count bigint not null default 0 check (error_count >= 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table {schema}.vinted_products is 'What is specific to a product''s listing on Vinted.';
comment on column {schema}.vinted_products.sku is 'The product listed.';
comment on column {schema}.vinted_products.id_vinted is 'The listing''s id on Vinted.';
comment on column {schema}.vinted_products.url_vinted is 'The listing''s URL on Vinted.';
comment on column {schema}.vinted_products.status is 'draft, published, sold, deleted or error.';
comment on column {schema}.vinted_products.price_vinted is 'Price on Vinted, when it differs from the product''s.';
comment on column {schema}.vinted_products.published_at is 'When the listing was published.';
comment on column {schema}.vinted_products.last_synced_at is 'When the listing was last synchronised with Vinted.';
comment on column {schema}.vinted_products.views_count is 'Views on Vinted.';
comment on column {schema}.vinted_products.favorites_count is 'Favourites on Vinted.';
comment on column {schema}.vinted_products.last_error is 'The last error Vinted returned.';
comment on column {schema}.vinted_products.error_count is 'How many errors Vinted returned.';
comment on column {schema}.vinted_products.created_at is 'When the row was created.';
comment on column {schema}.vinted_products.updated_at is 'When the row was last changed.';
create index vinted_products_status_idx on {schema}.vinted_products (status);
create trigger _100_timestamps before update on {schema}.vinted_products
  for each row execute function app_private.tg__set_updated_at();

create table {schema}.publications_history (
  id int primary key generated always as identity,
  sku varchar(100) not null references {schema}.products on delete cascade on update cascade,
  platform varchar(50) not null check (platform ~ '^[a-z][a-z0-9_]*$'),
  action public.publication_action not null,
  status public.publication_status not null default 'pending',
  error_message text,
  error_code varchar(50),
  job_id varchar(100),
  started_at timestamptz not null default now(),
  completed_at timestamptz check (completed_at >= started_at),
  duration_seconds int check (duration_seconds >= 0),
  created_at timestamptz not null default now()
);
comment on table {schema}.publications_history is 'Every attempt to publish, update or delete a product on a platform.';
comment on column {schema}.publications_history.id is 'Identifier of the attempt.';
comment on column {schema}.publications_history.sku is 'The product concerned.';
comment on column {schema}.publications_history.platform is 'vinted, ebay, etsy, etc.';
comment on column {schema}.publications_history.action is 'create, update or delete.';
comment on column {schema}.publications_history.status is 'pending, success or error.';
comment on column {schema}.publications_history.error_message is 'The platform''s error message, on error.';
comment on column {schema}.publications_history.error_code is 'The platform''s error code, on error.';
comment on column {schema}.publications_history.job_id is 'Id of the background job that ran the attempt.';
comment on column {schema}.publications_history.started_at is 'When the attempt started.';
comment on column {schema}.publications_history.completed_at is 'When the attempt ended.';
comment on column {schema}.publications_history.duration_seconds is 'How long the attempt took.';
comment on column {schema}.publications_history.created_at is 'When the row was created.';
create index publications_history_sku_idx on {schema}.publications_history (sku);
create index publications_history_platform_idx on {schema}.publications_history (platform);
create index publications_history_job_id_idx on {schema}.publications_history (job_id);

create table {schema}.ai_generations_log (
  id int primary key generated always as identity,
  sku varchar(100) not null references {schema}.products on delete cascade on update cascade,
  platform varchar(50) not null check (platform ~ '^[a-z][a-z0-9_]*$'),
  model varchar(100) not null,
  prompt_template varchar(100),
  generated_text text not null,
  tokens_used int check (tokens_used >= 0),
  cost numeric(10, 6) check (cost >= 0),
  was_cached boolean not null default false,
  cache_key varchar(255),
  generation_time_ms int check (generation_time_ms >= 0),
  created_at timestamptz not null default now()
);
comment on table {schema}.ai_generations_log is 'Every description generated by AI for a product.';
comment on column {schema}.ai_generations_log.id is 'Identifier of the generation.';
comment on column {schema}.ai_generations_log.sku is 'The product described.';
comment on column {schema}.ai_generations_log.platform is 'The platform the text is for.';
comment on column {schema}.ai_generations_log.model is 'The model used (gpt-4-turbo, claude-3, etc.).';
comment on column {schema}.ai_generations_log.prompt_template is 'The prompt template used.';
comment on column {schema}.ai_generations_log.generated_text is 'The generated text.';
comment on column {schema}.ai_generations_log.tokens_used is 'Tokens used.';
comment on column {schema}.ai_generations_log.cost is 'Cost in euros.';
comment on column {schema}.ai_generations_log.was_cached is 'True when the text came from the cache (it costs no credit).';
comment on column {schema}.ai_generations_log.cache_key is 'Key of the cached result.';
comment on column {schema}.ai_generations_log.generation_time_ms is 'Generation time in milliseconds.';
comment on column {schema}.ai_generations_log.created_at is 'When the text was generated.';
create index ai_generations_log_sku_idx on {schema}.ai_generations_log (sku);
create index ai_generations_log_cache_key_idx on {schema}.ai_generations_log (cache_key);

alter table {schema}.products enable row level security;
alter table {schema}.vinted_products enable row level security;
alter table {schema}.publications_history enable row level security;
alter table {schema}.ai_generations_log enable row level security;
create policy own_tenant on {schema}.products
  using ((select app_private.current_tenant_schema()) = '{schema}')
  with check ((select app_private.current_tenant_schema()) = '{schema}');
create policy own_tenant on {schema}.vinted_products
  using ((select app_private.current_tenant_schema()) = '{schema}')
  with check ((select app_private.current_tenant_schema()) = '{schema}');
create policy own_tenant on {schema}.publications_history
  using ((select app_private.current_tenant_schema()) = '{schema}')
  with check ((select app_private.current_tenant_schema()) = '{schema}');
create policy own_tenant on {schema}.ai_generations_log
  using ((select app_private.current_tenant_schema()) = '{schema}')
  with check ((select app_private.current_tenant_schema()) = '{schema}');

grant select on {schema}.products, {schema}.vinted_products, {schema}.publications_history,
  {schema}.ai_generations_log to stoflow_viewer;
grant insert (sku, title, description, price, cost_price, stock_quantity, brand, category, size, color,
              material, condition, image_url_1, image_url_2, image_url_3, image_url_4, image_url_5, is_active),
  update (sku, title, description, price, cost_price, stock_quantity, brand, category, size, color,
          material, condition, image_url_1, image_url_2, image_url_3, image_url_4, image_url_5, is_active),
  delete on {schema}.products to stoflow_user;
grant insert (sku, id_vinted, url_vinted, status, price_vinted, published_at, last_synced_at, views_count,
              favorites_count, last_error, error_count),
  update (id_vinted, url_vinted, status, price_vinted, published_at, last_synced_at, views_count,
          favorites_count, last_error, error_count),
  delete on {schema}.vinted_products to stoflow_user;
grant insert (sku, platform, action, status, error_message, error_code, job_id, started_at, completed_at,
              duration_seconds),
  update (status, error_message, error_code, completed_at, duration_seconds)
  on {schema}.publications_history to stoflow_user;
grant insert (sku, platform, model, prompt_template, generated_text, tokens_used, cost, was_cached,
              cache_key, generation_time_ms)
  on {schema}.ai_generations_log to stoflow_user;
$step$);

------------------------------------------------------------------------------------------------
-- Provisioning and sign-in, for the server's auth code (role stoflow_auth; never an API role).
------------------------------------------------------------------------------------------------
create type app_private.jwt_claims as (sub int, tenant_id int, role public.user_role);
comment on type app_private.jwt_claims is 'The claim set of an access token: user (sub), tenant and role.';

create function app_private.register_tenant(
  tenant_name text, email text, password_hash text, tier text default 'starter'
) returns app_private.jwt_claims
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  new_tenant public.tenants;
  new_user_id int;
  new_schema text;
begin
  if not exists (select 1 from public.tiers t where t.id = register_tenant.tier) then
    raise exception 'Unknown subscription tier "%"', register_tenant.tier using errcode = '22023';
  end if;
  insert into public.tenants (name, email, subscription_tier)
    values (tenant_name, register_tenant.email, register_tenant.tier)
    returning * into new_tenant;
  new_schema := new_tenant.schema_name;
  execute format('create schema %I', new_schema);
  execute format('comment on schema %I is %L', new_schema, 'Tables of tenant ' || new_tenant.id || '.');
  insert into app_private.tenant_schemas (schema_name, tenant_id) values (new_schema, new_tenant.id);
  perform app_private.apply_tenant_ddl(new_schema);
  insert into public.users (tenant_id, email, full_name, role)
    values (new_tenant.id, register_tenant.email, tenant_name, 'admin')
    returning id into new_user_id;
  insert into app_private.user_secrets (user_id, password_hash) values (new_user_id, register_tenant.password_hash);
  insert into public.subscriptions (tenant_id, tier, price_monthly)
    select new_tenant.id, t.id, t.price_monthly from public.tiers t where t.id = register_tenant.tier;
  return (new_user_id, new_tenant.id, 'admin')::app_private.jwt_claims;
exception
  when unique_violation then
    raise exception 'Email already registered' using errcode = '23505';
end;
$$;
comment on function app_private.register_tenant(text, text, text, text) is
  'Creates a tenant, its schema client_<id> with every tenant table, its admin user and first subscription, in one transaction; returns the admin''s claims. Any failure leaves nothing behind. The password arrives already hashed (bcrypt, in Node).';

create function app_private.login_candidate(email text)
  returns table (user_id int, password_hash text)
  language sql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  select u.id, s.password_hash
    from public.users u join app_private.user_secrets s on s.user_id = u.id
   where lower(u.email) = lower(login_candidate.email)
$$;
comment on function app_private.login_candidate(text) is
  'The user and password hash for a login e-mail, so Node can check the password with bcrypt.';

create function app_private.authenticate(user_id int) returns app_private.jwt_claims
  language sql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
  update public.users u set last_login = now()
    from public.tenants t
   where u.id = authenticate.user_id and t.id = u.tenant_id and u.is_active and t.is_active
  returning (u.id, u.tenant_id, u.role)::app_private.jwt_claims
$$;
comment on function app_private.authenticate(int) is
  'Records a sign-in for a user whose password Node has verified, and returns their claims; NULL when the user or their tenant is deactivated.';

grant execute on function app_private.register_tenant(text, text, text, text),
  app_private.login_candidate(text), app_private.authenticate(int) to stoflow_auth;

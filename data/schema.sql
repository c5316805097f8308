-- Stoflow's database as the migrations leave it (committed ones, then migrations/current.sql):
-- the shared schemas, the tenant template every client_<id> copies, roles, grants, policies and
-- comments. Written by `npm run db:dump` and after every migration of `npm run db`; a test fails
-- while it is stale. Read it; never edit it (change migrations/current.sql instead).

-- Roles

create role stoflow_admin nologin;

grant stoflow_admin to stoflow_authenticator;

grant stoflow_admin to stoflow_owner;

create role stoflow_anonymous nologin;

grant stoflow_anonymous to stoflow_authenticator;

grant stoflow_anonymous to stoflow_owner;

grant stoflow_anonymous to stoflow_viewer;

create role stoflow_auth nologin;

grant stoflow_auth to stoflow_authenticator;

grant stoflow_auth to stoflow_owner;

create role stoflow_authenticator login noinherit;

grant stoflow_authenticator to stoflow_owner;

create role stoflow_billing nologin;

grant stoflow_billing to stoflow_authenticator;

grant stoflow_billing to stoflow_owner;

create role stoflow_owner login;

create role stoflow_platform_operator nologin;

grant stoflow_platform_operator to stoflow_owner;

create role stoflow_user nologin;

grant stoflow_user to stoflow_admin;

grant stoflow_user to stoflow_authenticator;

grant stoflow_user to stoflow_owner;

create role stoflow_viewer nologin;

grant stoflow_viewer to stoflow_authenticator;

grant stoflow_viewer to stoflow_owner;

grant stoflow_viewer to stoflow_user;

create role stoflow_worker nologin;

grant stoflow_worker to stoflow_authenticator;

grant stoflow_worker to stoflow_owner;

-- Schemas and extensions

create schema app_private;

grant usage on schema app_private to stoflow_anonymous;

grant usage on schema app_private to stoflow_auth;

grant usage on schema app_private to stoflow_authenticator;

grant usage on schema app_private to stoflow_billing;

grant usage on schema app_private to stoflow_platform_operator;

grant usage on schema app_private to stoflow_worker;

create schema public;

grant usage on schema public to stoflow_anonymous;

grant usage on schema public to stoflow_auth;

grant usage on schema public to stoflow_platform_operator;

create schema tenant_template;

grant usage on schema tenant_template to stoflow_viewer;

-- Types

create type app_private.jwt_claims as (sub integer, tenant_id integer, role user_role);

create type app_private.refresh_result as (outcome text, sub integer, tenant_id integer, role user_role, session_id uuid);

create type public.publication_action as enum ('create', 'update', 'delete');

create type public.publication_status as enum ('pending', 'success', 'error');

create type public.subscription_status as enum ('active', 'cancelled', 'expired', 'suspended', 'trialing', 'past_due');

create type public.tenant_status as enum ('active', 'suspended', 'cancelled');

create type public.tenant_usage as (tier text, active_products integer, max_products integer, platforms_used integer, max_platforms integer, ai_credits_used integer, ai_credits_monthly integer, ai_credits_remaining integer);

create type public.user_role as enum ('admin', 'user', 'viewer');

create type public.vinted_status as enum ('draft', 'published', 'sold', 'deleted', 'error');

-- Tables and views

create table app_private.ai_credit_usage (
  tenant_id integer not null,
  month date not null,
  credits_used integer not null
);

create table app_private.attempt_counters (
  key text not null,
  window_ends_at timestamp with time zone not null,
  attempts integer not null
);

create table app_private.billing_accounts (
  tenant_id integer not null,
  stripe_customer_id text,
  stripe_subscription_id text,
  tier text,
  last_event_at timestamp with time zone
);

create table app_private.billing_events (
  id text not null,
  type text not null,
  created timestamp with time zone not null,
  tenant_id integer,
  outcome text not null,
  received_at timestamp with time zone default now() not null,
  stripe_customer_id text,
  stripe_subscription_id text,
  paid_until timestamp with time zone
);

create table app_private.checkout_sessions (
  id text not null,
  tenant_id integer not null,
  tier text not null,
  created_at timestamp with time zone default now() not null
);

create table app_private.constraint_messages (
  table_name text not null,
  constraint_name text not null,
  field text not null,
  message text not null
);

create table app_private.email_changes (
  id bigint generated always as identity not null,
  user_id integer not null,
  old_email character varying(255) not null,
  new_email character varying(255) not null,
  requested_at timestamp with time zone default now() not null,
  expires_at timestamp with time zone not null,
  old_confirmed_at timestamp with time zone,
  new_confirmed_at timestamp with time zone
);

create table app_private.live_listeners (
  tenant_id integer not null,
  gateway text not null,
  renewed_at timestamp with time zone default now() not null
);

create table app_private.live_outbox (
  id bigint generated always as identity not null,
  tenant_id integer not null,
  kind text not null,
  op text not null,
  key text not null
);

create table app_private.login_known_addresses (
  user_id integer not null,
  address_hash bytea not null,
  credential_version integer not null,
  signed_in_at timestamp with time zone default now() not null
);

create table app_private.platform_usage (
  tenant_id integer not null,
  platform character varying(50) not null,
  first_used_at timestamp with time zone default now() not null
);

create table app_private.refresh_tokens (
  token_hash bytea not null,
  session_id uuid not null,
  created_at timestamp with time zone default now() not null,
  expires_at timestamp with time zone not null,
  used_at timestamp with time zone
);

create table app_private.sessions (
  id uuid default gen_random_uuid() not null,
  user_id integer not null,
  created_at timestamp with time zone default now() not null,
  last_refreshed_at timestamp with time zone,
  revoked_at timestamp with time zone,
  revoked_reason text,
  credential_version integer not null,
  reauthenticated_until timestamp with time zone
);

create table app_private.tenant_ddl_steps (
  version integer not null,
  name text not null,
  sql text not null,
  created_at timestamp with time zone default now() not null
);

create table app_private.tenant_migration_failures (
  schema_name text not null,
  step_version integer not null,
  step_name text not null,
  sqlstate text not null,
  message text not null,
  failed_at timestamp with time zone default now() not null
);

create table app_private.tenant_schemas (
  schema_name text not null,
  tenant_id integer,
  version integer default 0 not null,
  migrated_at timestamp with time zone
);

create table app_private.user_secrets (
  user_id integer not null,
  password_hash text not null,
  password_changed_at timestamp with time zone default now() not null,
  credential_version integer default 1 not null,
  credential_changed_at timestamp with time zone
);

create table app_private.user_tokens (
  token_hash bytea not null,
  user_id integer,
  purpose text not null,
  email character varying(255) not null,
  created_at timestamp with time zone default now() not null,
  expires_at timestamp with time zone not null,
  used_at timestamp with time zone,
  credential_version integer,
  invitation_id integer,
  email_change_id bigint
);

create table public.invitations (
  id integer generated always as identity not null,
  tenant_id integer default app_private.current_tenant_id() not null,
  email character varying(255) not null,
  full_name character varying(255),
  role user_role default 'user'::user_role not null,
  invited_by integer,
  created_at timestamp with time zone default now() not null,
  expires_at timestamp with time zone not null
);

create table public.platform_mappings (
  id integer generated always as identity not null,
  platform character varying(50) not null,
  mapping_type character varying(50) not null,
  our_value character varying(255) not null,
  platform_value character varying(255) not null,
  platform_id integer,
  usage_count integer default 0 not null,
  notes text,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null
);

create table public.subscriptions (
  id integer generated always as identity not null,
  tenant_id integer not null,
  tier text not null,
  price_monthly numeric(10,2) not null,
  currency character(3) default 'EUR'::bpchar not null,
  start_date timestamp with time zone default now() not null,
  end_date timestamp with time zone,
  status subscription_status default 'active'::subscription_status not null,
  payment_method character varying(50),
  last_payment_date timestamp with time zone,
  next_billing_date timestamp with time zone,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  trial_ends_at timestamp with time zone,
  trial_reminded_at timestamp with time zone,
  grace_ends_at timestamp with time zone,
  cancels_at timestamp with time zone
);

create table public.tenants (
  id integer generated always as identity not null,
  name character varying(255) not null,
  email character varying(255) not null,
  subscription_tier text default 'starter'::text not null,
  subscription_status tenant_status default 'active'::tenant_status not null,
  max_products integer,
  max_platforms integer,
  ai_credits_monthly integer default 0 not null,
  is_active boolean default true not null,
  schema_name text generated always as (('client_'::text || id)) stored not null,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null
);

create table public.tiers (
  id text not null,
  name text not null,
  rank integer not null,
  price_monthly numeric(10,2) not null,
  max_products integer,
  max_platforms integer,
  ai_credits_monthly integer not null
);

create table public.users (
  id integer generated always as identity not null,
  tenant_id integer default app_private.current_tenant_id() not null,
  email character varying(255) not null,
  full_name character varying(255),
  phone character varying(50),
  role user_role default 'user'::user_role not null,
  is_active boolean default true not null,
  last_login timestamp with time zone,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null,
  email_verified_at timestamp with time zone,
  is_verified boolean generated always as ((email_verified_at IS NOT NULL)) stored not null
);

create table public.vinted_status_transitions (
  from_status vinted_status not null,
  to_status vinted_status not null
);

create table tenant_template.ai_generations_log (
  id integer generated always as identity not null,
  sku character varying(100) not null,
  platform character varying(50) not null,
  model character varying(100) not null,
  prompt_template character varying(100),
  generated_text character varying(10000) not null,
  tokens_used integer,
  cost numeric(10,6),
  was_cached boolean default false not null,
  cache_key character varying(255),
  generation_time_ms integer,
  created_at timestamp with time zone default now() not null
);

create table tenant_template.products (
  sku character varying(100) not null,
  title character varying(500) not null,
  description character varying(10000),
  price numeric(10,2) not null,
  cost_price numeric(10,2),
  stock_quantity integer default 1 not null,
  brand character varying(255),
  category character varying(255),
  size character varying(50),
  color character varying(100),
  material character varying(255),
  condition character varying(50),
  image_url_1 character varying(1000),
  image_url_2 character varying(1000),
  image_url_3 character varying(1000),
  image_url_4 character varying(1000),
  image_url_5 character varying(1000),
  is_active boolean default true not null,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null
);

create table tenant_template.publications_history (
  id integer generated always as identity not null,
  sku character varying(100) not null,
  platform character varying(50) not null,
  action publication_action not null,
  status publication_status default 'pending'::publication_status not null,
  error_message character varying(2000),
  error_code character varying(50),
  job_id character varying(100),
  started_at timestamp with time zone default now() not null,
  completed_at timestamp with time zone,
  duration_seconds integer,
  created_at timestamp with time zone default now() not null
);

create table tenant_template.vinted_products (
  sku character varying(100) not null,
  id_vinted bigint,
  url_vinted character varying(1000),
  status vinted_status default 'draft'::vinted_status not null,
  price_vinted numeric(10,2),
  published_at timestamp with time zone,
  last_synced_at timestamp with time zone,
  views_count bigint default 0 not null,
  favorites_count bigint default 0 not null,
  last_error character varying(2000),
  error_count bigint default 0 not null,
  created_at timestamp with time zone default now() not null,
  updated_at timestamp with time zone default now() not null
);

-- Constraints, indexes, row-level security, policies, triggers

alter table app_private.ai_credit_usage add constraint ai_credit_usage_credits_used_check CHECK ((credits_used >= 0));

alter table app_private.ai_credit_usage add constraint ai_credit_usage_month_check CHECK ((EXTRACT(day FROM month) = (1)::numeric));

alter table app_private.ai_credit_usage add constraint ai_credit_usage_pkey PRIMARY KEY (tenant_id, month);

alter table app_private.ai_credit_usage add constraint ai_credit_usage_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE;

alter table app_private.ai_credit_usage enable row level security;

alter table app_private.attempt_counters add constraint attempt_counters_attempts_check CHECK ((attempts >= 0));

alter table app_private.attempt_counters add constraint attempt_counters_pkey PRIMARY KEY (key);

CREATE INDEX attempt_counters_window_ends_at_idx ON app_private.attempt_counters USING btree (window_ends_at);

alter table app_private.attempt_counters enable row level security;

alter table app_private.billing_accounts add constraint billing_accounts_pkey PRIMARY KEY (tenant_id);

alter table app_private.billing_accounts add constraint billing_accounts_stripe_customer_id_key UNIQUE (stripe_customer_id);

alter table app_private.billing_accounts add constraint billing_accounts_stripe_subscription_id_key UNIQUE (stripe_subscription_id);

alter table app_private.billing_accounts add constraint billing_accounts_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE;

alter table app_private.billing_accounts add constraint billing_accounts_tier_fkey FOREIGN KEY (tier) REFERENCES tiers(id) ON UPDATE CASCADE;

alter table app_private.billing_accounts enable row level security;

alter table app_private.billing_events add constraint billing_events_pkey PRIMARY KEY (id);

alter table app_private.billing_events add constraint billing_events_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE SET NULL;

CREATE INDEX billing_events_waiting_idx ON app_private.billing_events USING btree (stripe_subscription_id) WHERE (outcome ~~ 'waiting%'::text);

alter table app_private.billing_events enable row level security;

alter table app_private.checkout_sessions add constraint checkout_sessions_pkey PRIMARY KEY (id);

alter table app_private.checkout_sessions add constraint checkout_sessions_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE;

CREATE INDEX checkout_sessions_tenant_id_idx ON app_private.checkout_sessions USING btree (tenant_id);

alter table app_private.checkout_sessions add constraint checkout_sessions_tier_fkey FOREIGN KEY (tier) REFERENCES tiers(id) ON UPDATE CASCADE;

alter table app_private.checkout_sessions enable row level security;

alter table app_private.constraint_messages add constraint constraint_messages_pkey PRIMARY KEY (table_name, constraint_name);

alter table app_private.constraint_messages enable row level security;

alter table app_private.email_changes add constraint email_changes_new_email_check CHECK (app_private.is_email_address((new_email)::text));

alter table app_private.email_changes add constraint email_changes_pkey PRIMARY KEY (id);

alter table app_private.email_changes add constraint email_changes_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;

alter table app_private.email_changes add constraint email_changes_user_id_key UNIQUE (user_id);

alter table app_private.email_changes enable row level security;

alter table app_private.live_listeners add constraint live_listeners_pkey PRIMARY KEY (tenant_id, gateway);

alter table app_private.live_listeners enable row level security;

alter table app_private.live_outbox add constraint live_outbox_pkey PRIMARY KEY (id);

alter table app_private.live_outbox enable row level security;

alter table app_private.login_known_addresses add constraint login_known_addresses_pkey PRIMARY KEY (user_id, address_hash);

alter table app_private.login_known_addresses add constraint login_known_addresses_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;

alter table app_private.login_known_addresses enable row level security;

alter table app_private.platform_usage add constraint platform_usage_pkey PRIMARY KEY (tenant_id, platform);

alter table app_private.platform_usage add constraint platform_usage_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE;

alter table app_private.platform_usage enable row level security;

alter table app_private.refresh_tokens add constraint refresh_tokens_pkey PRIMARY KEY (token_hash);

alter table app_private.refresh_tokens add constraint refresh_tokens_session_id_fkey FOREIGN KEY (session_id) REFERENCES app_private.sessions(id) ON DELETE CASCADE;

CREATE INDEX refresh_tokens_session_id_idx ON app_private.refresh_tokens USING btree (session_id);

alter table app_private.refresh_tokens add constraint refresh_tokens_token_hash_check CHECK ((length(token_hash) = 32));

alter table app_private.refresh_tokens enable row level security;

alter table app_private.sessions add constraint sessions_pkey PRIMARY KEY (id);

alter table app_private.sessions add constraint sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;

CREATE INDEX sessions_user_id_idx ON app_private.sessions USING btree (user_id);

alter table app_private.sessions enable row level security;

CREATE TRIGGER _900_notify_ended AFTER UPDATE OF revoked_at ON app_private.sessions FOR EACH ROW WHEN (old.revoked_at IS NULL AND new.revoked_at IS NOT NULL) EXECUTE FUNCTION app_private.tg_sessions__notify_ended();

CREATE TRIGGER _900_notify_ended_on_delete AFTER DELETE ON app_private.sessions FOR EACH ROW EXECUTE FUNCTION app_private.tg_sessions__notify_ended();

alter table app_private.tenant_ddl_steps add constraint tenant_ddl_steps_name_key UNIQUE (name);

alter table app_private.tenant_ddl_steps add constraint tenant_ddl_steps_pkey PRIMARY KEY (version);

alter table app_private.tenant_ddl_steps add constraint tenant_ddl_steps_version_check CHECK ((version > 0));

alter table app_private.tenant_ddl_steps enable row level security;

alter table app_private.tenant_migration_failures add constraint tenant_migration_failures_pkey PRIMARY KEY (schema_name);

alter table app_private.tenant_migration_failures add constraint tenant_migration_failures_schema_name_fkey FOREIGN KEY (schema_name) REFERENCES app_private.tenant_schemas(schema_name) ON DELETE CASCADE;

alter table app_private.tenant_migration_failures enable row level security;

alter table app_private.tenant_schemas add constraint tenant_schemas_check CHECK (((schema_name = 'tenant_template'::text) = (tenant_id IS NULL)));

alter table app_private.tenant_schemas add constraint tenant_schemas_pkey PRIMARY KEY (schema_name);

alter table app_private.tenant_schemas add constraint tenant_schemas_schema_name_check CHECK ((schema_name ~ '^(tenant_template|client_[1-9][0-9]*)$'::text));

alter table app_private.tenant_schemas add constraint tenant_schemas_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE;

alter table app_private.tenant_schemas add constraint tenant_schemas_tenant_id_key UNIQUE (tenant_id);

alter table app_private.tenant_schemas enable row level security;

alter table app_private.user_secrets add constraint user_secrets_credential_version_check CHECK ((credential_version > 0));

alter table app_private.user_secrets add constraint user_secrets_password_hash_check CHECK ((password_hash ~ '^\$2[aby]\$\d\d\$'::text));

alter table app_private.user_secrets add constraint user_secrets_pkey PRIMARY KEY (user_id);

alter table app_private.user_secrets add constraint user_secrets_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;

alter table app_private.user_secrets enable row level security;

alter table app_private.user_tokens add constraint user_tokens_bound_check CHECK (
CASE purpose
    WHEN 'invitation'::text THEN ((user_id IS NULL) AND (credential_version IS NULL))
    WHEN 'change_email'::text THEN ((user_id IS NOT NULL) AND (credential_version IS NOT NULL) AND (email_change_id IS NOT NULL))
    ELSE ((user_id IS NOT NULL) AND (credential_version IS NOT NULL))
END);

alter table app_private.user_tokens add constraint user_tokens_email_change_id_fkey FOREIGN KEY (email_change_id) REFERENCES app_private.email_changes(id) ON DELETE CASCADE;

CREATE INDEX user_tokens_email_change_id_idx ON app_private.user_tokens USING btree (email_change_id);

CREATE INDEX user_tokens_expires_at_idx ON app_private.user_tokens USING btree (expires_at);

alter table app_private.user_tokens add constraint user_tokens_invitation_id_fkey FOREIGN KEY (invitation_id) REFERENCES invitations(id) ON DELETE SET NULL;

CREATE INDEX user_tokens_invitation_id_idx ON app_private.user_tokens USING btree (invitation_id);

alter table app_private.user_tokens add constraint user_tokens_pkey PRIMARY KEY (token_hash);

alter table app_private.user_tokens add constraint user_tokens_purpose_check CHECK ((purpose = ANY (ARRAY['verify_email'::text, 'reset_password'::text, 'invitation'::text, 'change_email'::text])));

alter table app_private.user_tokens add constraint user_tokens_token_hash_check CHECK ((length(token_hash) = 32));

alter table app_private.user_tokens add constraint user_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;

CREATE INDEX user_tokens_user_id_idx ON app_private.user_tokens USING btree (user_id);

alter table app_private.user_tokens enable row level security;

alter table public.invitations add constraint invitations_email_check CHECK (app_private.is_email_address((email)::text));

CREATE INDEX invitations_email_idx ON public.invitations USING btree (lower((email)::text));

CREATE INDEX invitations_expires_at_idx ON public.invitations USING btree (expires_at);

alter table public.invitations add constraint invitations_invited_by_fkey FOREIGN KEY (invited_by) REFERENCES users(id) ON DELETE CASCADE;

CREATE INDEX invitations_invited_by_idx ON public.invitations USING btree (invited_by);

alter table public.invitations add constraint invitations_pkey PRIMARY KEY (id);

CREATE UNIQUE INDEX invitations_tenant_email_key ON public.invitations USING btree (tenant_id, lower((email)::text));

alter table public.invitations add constraint invitations_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE;

create policy select_by_admin on public.invitations as permissive for select to stoflow_admin using (((tenant_id = ( SELECT app_private.current_tenant_id() AS current_tenant_id)) AND (expires_at > now())));

alter table public.invitations enable row level security;

CREATE TRIGGER _100_require_reauthentication BEFORE INSERT OR UPDATE ON invitations FOR EACH ROW WHEN (new.role = 'admin'::user_role) EXECUTE FUNCTION app_private.tg_invitations__require_reauthentication();

alter table public.platform_mappings add constraint platform_mappings_mapping_type_check CHECK (((mapping_type)::text = ANY ((ARRAY['brand'::character varying, 'category'::character varying, 'color'::character varying, 'size'::character varying, 'condition'::character varying, 'material'::character varying])::text[])));

alter table public.platform_mappings add constraint platform_mappings_our_value_check CHECK ((btrim((our_value)::text) <> ''::text));

CREATE INDEX platform_mappings_our_value_idx ON public.platform_mappings USING btree (our_value);

alter table public.platform_mappings add constraint platform_mappings_pkey PRIMARY KEY (id);

alter table public.platform_mappings add constraint platform_mappings_platform_check CHECK (((platform)::text ~ '^[a-z][a-z0-9_]*$'::text));

alter table public.platform_mappings add constraint platform_mappings_platform_mapping_type_our_value_key UNIQUE (platform, mapping_type, our_value);

alter table public.platform_mappings add constraint platform_mappings_usage_count_check CHECK ((usage_count >= 0));

create policy select_signed_in on public.platform_mappings as permissive for select to stoflow_viewer using (true);

create policy write_by_operator on public.platform_mappings as permissive for all to stoflow_platform_operator using (true) with check (true);

alter table public.platform_mappings enable row level security;

CREATE TRIGGER _100_timestamps BEFORE UPDATE ON platform_mappings FOR EACH ROW EXECUTE FUNCTION app_private.tg__set_updated_at();

alter table public.subscriptions add constraint subscriptions_check CHECK ((end_date >= start_date));

alter table public.subscriptions add constraint subscriptions_currency_check CHECK ((currency ~ '^[A-Z]{3}$'::text));

CREATE UNIQUE INDEX subscriptions_one_open_per_tenant ON public.subscriptions USING btree (tenant_id) WHERE (end_date IS NULL);

alter table public.subscriptions add constraint subscriptions_pkey PRIMARY KEY (id);

alter table public.subscriptions add constraint subscriptions_price_monthly_check CHECK (((price_monthly >= (0)::numeric) AND (price_monthly < 'Infinity'::numeric)));

alter table public.subscriptions add constraint subscriptions_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE;

CREATE INDEX subscriptions_tenant_id_idx ON public.subscriptions USING btree (tenant_id);

alter table public.subscriptions add constraint subscriptions_tier_fkey FOREIGN KEY (tier) REFERENCES tiers(id) ON UPDATE CASCADE;

create policy select_same_tenant on public.subscriptions as permissive for select to stoflow_viewer using ((tenant_id = ( SELECT app_private.current_tenant_id() AS current_tenant_id)));

alter table public.subscriptions enable row level security;

CREATE TRIGGER _100_timestamps BEFORE UPDATE ON subscriptions FOR EACH ROW EXECUTE FUNCTION app_private.tg__set_updated_at();

alter table public.tenants add constraint tenants_ai_credits_monthly_check CHECK ((ai_credits_monthly >= 0));

alter table public.tenants add constraint tenants_email_check CHECK (app_private.is_email_address((email)::text)) NOT VALID;

CREATE UNIQUE INDEX tenants_email_key ON public.tenants USING btree (lower((email)::text));

alter table public.tenants add constraint tenants_max_platforms_check CHECK ((max_platforms >= 0));

alter table public.tenants add constraint tenants_max_products_check CHECK ((max_products >= 0));

alter table public.tenants add constraint tenants_name_check CHECK ((btrim((name)::text) <> ''::text));

alter table public.tenants add constraint tenants_pkey PRIMARY KEY (id);

alter table public.tenants add constraint tenants_subscription_tier_fkey FOREIGN KEY (subscription_tier) REFERENCES tiers(id) ON UPDATE CASCADE;

CREATE INDEX tenants_subscription_tier_idx ON public.tenants USING btree (subscription_tier);

create policy select_own on public.tenants as permissive for select to stoflow_viewer using ((id = ( SELECT app_private.current_tenant_id() AS current_tenant_id)));

alter table public.tenants enable row level security;

CREATE TRIGGER _100_timestamps BEFORE UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION app_private.tg__set_updated_at();

CREATE TRIGGER _200_copy_tier_limits BEFORE INSERT OR UPDATE OF subscription_tier ON tenants FOR EACH ROW EXECUTE FUNCTION app_private.tg_tenants__copy_tier_limits();

CREATE TRIGGER _300_revoke_credentials AFTER UPDATE OF is_active ON tenants FOR EACH ROW WHEN (old.is_active AND NOT new.is_active) EXECUTE FUNCTION app_private.tg_tenants__revoke_credentials();

alter table public.tiers add constraint tiers_ai_credits_monthly_check CHECK ((ai_credits_monthly >= 0));

alter table public.tiers add constraint tiers_id_check CHECK ((id ~ '^[a-z][a-z0-9_]*$'::text));

alter table public.tiers add constraint tiers_max_platforms_check CHECK ((max_platforms >= 0));

alter table public.tiers add constraint tiers_max_products_check CHECK ((max_products >= 0));

alter table public.tiers add constraint tiers_pkey PRIMARY KEY (id);

alter table public.tiers add constraint tiers_price_monthly_check CHECK (((price_monthly >= (0)::numeric) AND (price_monthly < 'Infinity'::numeric)));

alter table public.tiers add constraint tiers_rank_key UNIQUE (rank);

create policy select_all on public.tiers as permissive for select to public using (true);

alter table public.tiers enable row level security;

alter table public.users add constraint users_email_check CHECK (app_private.is_email_address((email)::text)) NOT VALID;

CREATE UNIQUE INDEX users_email_key ON public.users USING btree (lower((email)::text));

alter table public.users add constraint users_pkey PRIMARY KEY (id);

alter table public.users add constraint users_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE;

CREATE INDEX users_tenant_id_idx ON public.users USING btree (tenant_id);

create policy delete_by_admin on public.users as permissive for delete to stoflow_admin using ((tenant_id = ( SELECT app_private.current_tenant_id() AS current_tenant_id)));

create policy select_same_tenant on public.users as permissive for select to stoflow_viewer using ((tenant_id = ( SELECT app_private.current_tenant_id() AS current_tenant_id)));

create policy update_by_admin on public.users as permissive for update to stoflow_admin using ((tenant_id = ( SELECT app_private.current_tenant_id() AS current_tenant_id))) with check ((tenant_id = ( SELECT app_private.current_tenant_id() AS current_tenant_id)));

create policy update_self on public.users as permissive for update to stoflow_viewer using ((id = ( SELECT app_private.current_user_id() AS current_user_id))) with check ((id = ( SELECT app_private.current_user_id() AS current_user_id)));

alter table public.users enable row level security;

CREATE TRIGGER _100_timestamps BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION app_private.tg__set_updated_at();

CREATE TRIGGER _150_require_reauthentication BEFORE INSERT OR DELETE OR UPDATE OF role, is_active ON users FOR EACH ROW EXECUTE FUNCTION app_private.tg_users__require_reauthentication();

CREATE TRIGGER _200_protect_admins BEFORE DELETE OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION app_private.tg_users__protect_admins();

CREATE TRIGGER _300_revoke_credentials AFTER UPDATE OF is_active, role, email ON users FOR EACH ROW WHEN (old.is_active AND NOT new.is_active OR new.role <> old.role OR lower(new.email::text) <> lower(old.email::text)) EXECUTE FUNCTION app_private.tg_users__revoke_credentials();

CREATE TRIGGER _300_revoke_credentials_on_delete BEFORE DELETE ON users FOR EACH ROW EXECUTE FUNCTION app_private.tg_users__revoke_credentials();

CREATE TRIGGER _400_drop_invitations AFTER INSERT OR UPDATE OF email ON users FOR EACH ROW EXECUTE FUNCTION app_private.tg_users__drop_invitations();

alter table public.vinted_status_transitions add constraint vinted_status_transitions_check CHECK ((from_status <> to_status));

alter table public.vinted_status_transitions add constraint vinted_status_transitions_pkey PRIMARY KEY (from_status, to_status);

create policy select_all on public.vinted_status_transitions as permissive for select to public using (true);

alter table public.vinted_status_transitions enable row level security;

CREATE INDEX ai_generations_log_cache_key_idx ON tenant_template.ai_generations_log USING btree (cache_key);

alter table tenant_template.ai_generations_log add constraint ai_generations_log_cost_check CHECK (((cost >= (0)::numeric) AND (cost < 'Infinity'::numeric)));

alter table tenant_template.ai_generations_log add constraint ai_generations_log_generation_time_ms_check CHECK ((generation_time_ms >= 0));

alter table tenant_template.ai_generations_log add constraint ai_generations_log_pkey PRIMARY KEY (id);

alter table tenant_template.ai_generations_log add constraint ai_generations_log_platform_check CHECK (((platform)::text ~ '^[a-z][a-z0-9_]*$'::text));

alter table tenant_template.ai_generations_log add constraint ai_generations_log_sku_fkey FOREIGN KEY (sku) REFERENCES tenant_template.products(sku) ON UPDATE CASCADE ON DELETE CASCADE;

CREATE INDEX ai_generations_log_sku_idx ON tenant_template.ai_generations_log USING btree (sku);

alter table tenant_template.ai_generations_log add constraint ai_generations_log_tokens_used_check CHECK ((tokens_used >= 0));

create policy own_tenant on tenant_template.ai_generations_log as permissive for all to public using ((( SELECT app_private.current_tenant_schema() AS current_tenant_schema) = 'tenant_template'::text)) with check ((( SELECT app_private.current_tenant_schema() AS current_tenant_schema) = 'tenant_template'::text));

alter table tenant_template.ai_generations_log enable row level security;

CREATE TRIGGER _100_require_active_tenant BEFORE INSERT OR DELETE OR UPDATE ON tenant_template.ai_generations_log FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_tenant_tables__require_active_tenant();

CREATE TRIGGER _200_ai_credits BEFORE INSERT ON tenant_template.ai_generations_log FOR EACH ROW EXECUTE FUNCTION app_private.tg_ai_generations_log__enforce_ai_credits();

CREATE TRIGGER _900_live AFTER INSERT ON tenant_template.ai_generations_log FOR EACH ROW EXECUTE FUNCTION app_private.tg__notify_live('ai_generation', 'id');

alter table tenant_template.products add constraint products_cost_price_check CHECK (((cost_price >= (0)::numeric) AND (cost_price < 'Infinity'::numeric)));

alter table tenant_template.products add constraint products_pkey PRIMARY KEY (sku);

alter table tenant_template.products add constraint products_price_check CHECK (((price >= (0)::numeric) AND (price < 'Infinity'::numeric)));

alter table tenant_template.products add constraint products_sku_check CHECK (((sku)::text ~ '^\S(.*\S)?$'::text));

alter table tenant_template.products add constraint products_stock_quantity_check CHECK ((stock_quantity >= 0));

alter table tenant_template.products add constraint products_title_check CHECK ((btrim((title)::text) <> ''::text));

create policy own_tenant on tenant_template.products as permissive for all to public using ((( SELECT app_private.current_tenant_schema() AS current_tenant_schema) = 'tenant_template'::text)) with check ((( SELECT app_private.current_tenant_schema() AS current_tenant_schema) = 'tenant_template'::text));

alter table tenant_template.products enable row level security;

CREATE TRIGGER _100_require_active_tenant BEFORE INSERT OR DELETE OR UPDATE ON tenant_template.products FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_tenant_tables__require_active_tenant();

CREATE TRIGGER _100_timestamps BEFORE UPDATE ON tenant_template.products FOR EACH ROW EXECUTE FUNCTION app_private.tg__set_updated_at();

CREATE TRIGGER _200_product_limit BEFORE INSERT OR UPDATE OF is_active ON tenant_template.products FOR EACH ROW WHEN (new.is_active) EXECUTE FUNCTION app_private.tg_products__enforce_product_limit();

CREATE TRIGGER _900_live AFTER INSERT OR DELETE OR UPDATE ON tenant_template.products FOR EACH ROW EXECUTE FUNCTION app_private.tg__notify_live('product', 'sku');

alter table tenant_template.publications_history add constraint publications_history_check CHECK ((completed_at >= started_at));

alter table tenant_template.publications_history add constraint publications_history_duration_seconds_check CHECK ((duration_seconds >= 0));

CREATE INDEX publications_history_job_id_idx ON tenant_template.publications_history USING btree (job_id);

alter table tenant_template.publications_history add constraint publications_history_pkey PRIMARY KEY (id);

CREATE INDEX publications_history_platform_idx ON tenant_template.publications_history USING btree (platform);

alter table tenant_template.publications_history add constraint publications_history_platform_check CHECK (((platform)::text ~ '^[a-z][a-z0-9_]*$'::text));

alter table tenant_template.publications_history add constraint publications_history_sku_fkey FOREIGN KEY (sku) REFERENCES tenant_template.products(sku) ON UPDATE CASCADE ON DELETE CASCADE;

CREATE INDEX publications_history_sku_idx ON tenant_template.publications_history USING btree (sku);

create policy own_tenant on tenant_template.publications_history as permissive for all to public using ((( SELECT app_private.current_tenant_schema() AS current_tenant_schema) = 'tenant_template'::text)) with check ((( SELECT app_private.current_tenant_schema() AS current_tenant_schema) = 'tenant_template'::text));

alter table tenant_template.publications_history enable row level security;

CREATE TRIGGER _100_require_active_tenant BEFORE INSERT OR DELETE OR UPDATE ON tenant_template.publications_history FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_tenant_tables__require_active_tenant();

CREATE TRIGGER _200_platform_limit BEFORE INSERT ON tenant_template.publications_history FOR EACH ROW EXECUTE FUNCTION app_private.tg_publications_history__enforce_platform_limit();

CREATE TRIGGER _300_status_rules BEFORE INSERT OR UPDATE ON tenant_template.publications_history FOR EACH ROW EXECUTE FUNCTION app_private.tg_publications_history__status_rules();

CREATE TRIGGER _900_live AFTER INSERT OR UPDATE OF status ON tenant_template.publications_history FOR EACH ROW EXECUTE FUNCTION app_private.tg__notify_live('publication', 'id');

alter table tenant_template.vinted_products add constraint vinted_products_error_count_check CHECK ((error_count >= 0));

alter table tenant_template.vinted_products add constraint vinted_products_favorites_count_check CHECK ((favorites_count >= 0));

alter table tenant_template.vinted_products add constraint vinted_products_id_vinted_key UNIQUE (id_vinted);

alter table tenant_template.vinted_products add constraint vinted_products_pkey PRIMARY KEY (sku);

alter table tenant_template.vinted_products add constraint vinted_products_price_vinted_check CHECK (((price_vinted >= (0)::numeric) AND (price_vinted < 'Infinity'::numeric)));

alter table tenant_template.vinted_products add constraint vinted_products_sku_fkey FOREIGN KEY (sku) REFERENCES tenant_template.products(sku) ON UPDATE CASCADE ON DELETE CASCADE;

CREATE INDEX vinted_products_status_idx ON tenant_template.vinted_products USING btree (status);

alter table tenant_template.vinted_products add constraint vinted_products_views_count_check CHECK ((views_count >= 0));

create policy own_tenant on tenant_template.vinted_products as permissive for all to public using ((( SELECT app_private.current_tenant_schema() AS current_tenant_schema) = 'tenant_template'::text)) with check ((( SELECT app_private.current_tenant_schema() AS current_tenant_schema) = 'tenant_template'::text));

alter table tenant_template.vinted_products enable row level security;

CREATE TRIGGER _100_require_active_tenant BEFORE INSERT OR DELETE OR UPDATE ON tenant_template.vinted_products FOR EACH STATEMENT EXECUTE FUNCTION app_private.tg_tenant_tables__require_active_tenant();

CREATE TRIGGER _100_timestamps BEFORE UPDATE ON tenant_template.vinted_products FOR EACH ROW EXECUTE FUNCTION app_private.tg__set_updated_at();

CREATE TRIGGER _300_status_rules BEFORE INSERT OR UPDATE ON tenant_template.vinted_products FOR EACH ROW EXECUTE FUNCTION app_private.tg_vinted_products__status_rules();

CREATE TRIGGER _900_live AFTER INSERT OR DELETE OR UPDATE ON tenant_template.vinted_products FOR EACH ROW EXECUTE FUNCTION app_private.tg__notify_live('vinted_product', 'sku');

-- Functions

CREATE OR REPLACE FUNCTION app_private.accept_invitation(token_hash bytea, password_hash text, OUT outcome text, OUT user_id integer, OUT credential_version integer)
 RETURNS record
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.account_may_act(account users, tenant tenants)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$ select account.is_active and tenant.is_active $function$
;

CREATE OR REPLACE FUNCTION app_private.add_team_member(tenant_id integer, email text, full_name text, role user_role, password_hash text)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.add_tenant_ddl_step(step_name text, step_sql text)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  existing record;
  new_version int;
  target text;
  failure text;
begin
  select version, sql, created_at into existing from app_private.tenant_ddl_steps where name = step_name;
  if found then
    if existing.sql is distinct from step_sql then
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
    end if;
    perform app_private.catch_up_tenants_in_development();
    return existing.version;
  end if;
  lock table app_private.tenant_ddl_steps in exclusive mode;
  select coalesce(max(version), 0) + 1 into new_version from app_private.tenant_ddl_steps;
  insert into app_private.tenant_ddl_steps (version, name, sql) values (new_version, step_name, step_sql);
  perform app_private.apply_tenant_ddl_step_named('tenant_template', new_version);
  perform app_private.catch_up_tenants_in_development();
  return new_version;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.address_hash(client_address text)
 RETURNS bytea
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$ select sha256(convert_to(lower(client_address), 'UTF8')) $function$
;

CREATE OR REPLACE FUNCTION app_private.apply_billing_event(event_id text, event_type text, created timestamp with time zone, object jsonb, grace interval)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  account app_private.billing_accounts;
  session app_private.checkout_sessions;
  current public.subscriptions;
  tenant int;
  result text := 'applied';
  stripe_subscription text := coalesce(object->>'subscription', object#>>'{parent,subscription_details,subscription}');
  period_end timestamptz := to_timestamp(coalesce(object#>>'{lines,data,0,period,end}', object->>'period_end')::double precision);
  waiting timestamptz;
  invoice_paid boolean;
begin
  insert into app_private.billing_events (id, type, created, outcome) values (event_id, event_type, created, 'received')
    on conflict (id) do nothing;
  if not found then
    return 'duplicate';
  end if;
  if event_type like 'invoice.%' then
    update app_private.billing_events e set stripe_customer_id = object->>'customer', stripe_subscription_id = stripe_subscription,
           paid_until = period_end
     where e.id = event_id;
  end if;
  -- Which tenant: only through what we created (the Checkout Session) or stored from it (customer, subscription).
  if event_type = 'checkout.session.completed' then
    select * into session from app_private.checkout_sessions c where c.id = object->>'id';
    if session.id is not null and session.tenant_id::text is not distinct from object->>'client_reference_id'
       and object->>'mode' = 'subscription' and object->>'subscription' is not null and object->>'customer' is not null then
      tenant := session.tenant_id;
    end if;
  elsif event_type in ('invoice.paid', 'invoice.payment_failed') then
    select a.tenant_id into tenant from app_private.billing_accounts a
     where a.stripe_subscription_id = stripe_subscription and a.stripe_customer_id = object->>'customer';
  elsif event_type = 'customer.subscription.deleted' then
    select a.tenant_id into tenant from app_private.billing_accounts a
     where a.stripe_subscription_id = object->>'id' and a.stripe_customer_id = object->>'customer';
  else
    result := 'ignored: not an event type we act on';
  end if;
  if tenant is null and event_type = 'invoice.paid' then
    -- Stripe does not keep its events in order: an invoice may come before its Checkout completes.
    result := 'waiting: no tenant yet (applied if its Checkout Session completes)';
  elsif tenant is null and result = 'applied' then
    result := 'ignored: no tenant of ours';
  end if;
  if tenant is not null then
    perform 1 from public.tenants t where t.id = tenant for update;
    select * into account from app_private.billing_accounts a where a.tenant_id = tenant;
    if account.last_event_at > created then
      result := 'ignored: older than the last event applied';
    elsif event_type = 'checkout.session.completed' then
      if exists (select 1 from app_private.billing_accounts a where a.tenant_id <> tenant
                  and (a.stripe_customer_id = object->>'customer' or a.stripe_subscription_id = object->>'subscription')) then
        result := 'ignored: customer or subscription of another tenant';
      else
        insert into app_private.billing_accounts as a (tenant_id, stripe_customer_id, stripe_subscription_id, tier, last_event_at)
          values (tenant, object->>'customer', object->>'subscription', session.tier, created)
          on conflict (tenant_id) do update set stripe_customer_id = excluded.stripe_customer_id,
            stripe_subscription_id = excluded.stripe_subscription_id, tier = excluded.tier, last_event_at = excluded.last_event_at
          returning * into account;
        with applied as (
          update app_private.billing_events e set outcome = 'applied after its checkout.session.completed', tenant_id = tenant
           where e.outcome like 'waiting%' and e.stripe_subscription_id = account.stripe_subscription_id
             and e.stripe_customer_id = account.stripe_customer_id
          returning e.paid_until)
        select count(*) > 0, max(applied.paid_until) into invoice_paid, waiting from applied;
        if object->>'payment_status' in ('paid', 'no_payment_required') or invoice_paid then
          perform app_private.billing_paid(tenant, account.tier, created, waiting);
        else
          result := 'linked: waiting for invoice.paid';
        end if;
      end if;
    elsif event_type = 'invoice.paid' then
      perform app_private.billing_paid(tenant, account.tier, created, period_end);
    else
      current := app_private.current_period(tenant);
      -- Whatever paid tier the tenant is on now, this subscription pays for it (a downgrade keeps
      -- the Stripe subscription): only a free tier, or a trial of another tier, is not its to take away.
      if current.price_monthly = 0 or current.status::text = 'trialing' then
        result := 'ignored: the tenant is on no tier this subscription pays for';
      elsif event_type = 'invoice.payment_failed' then
        update public.subscriptions s set status = 'past_due', grace_ends_at = coalesce(s.grace_ends_at, created + grace)
         where s.id = current.id and s.status::text in ('active', 'past_due');
      else -- customer.subscription.deleted: the tier stays until the end of what was paid
        update public.subscriptions s set cancels_at = greatest(created, coalesce(s.next_billing_date, created))
         where s.id = current.id returning * into current;
        update app_private.billing_accounts a set stripe_subscription_id = null where a.tenant_id = tenant;
        if current.cancels_at <= now() then
          perform app_private.switch_period(tenant, 'starter', 'active', 'cancelled', now());
        end if;
      end if;
    end if;
    if result not like 'ignored%' then
      update app_private.billing_accounts a set last_event_at = greatest(a.last_event_at, created) where a.tenant_id = tenant;
    end if;
  end if;
  update app_private.billing_events e set outcome = result, tenant_id = tenant where e.id = event_id;
  return result;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.apply_tenant_ddl(target text)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.apply_tenant_ddl_step(target text, step_version integer)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
begin
  perform 1 from app_private.tenant_schemas where schema_name = target for update;
  execute replace((select sql from app_private.tenant_ddl_steps where version = step_version), '{schema}', target);
  update app_private.tenant_schemas set version = greatest(version, step_version), migrated_at = now()
   where schema_name = target;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.apply_tenant_ddl_step_named(target text, step_version integer)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  error_state text;
  error_message text;
begin
  perform app_private.apply_tenant_ddl_step(target, step_version);
exception when others then
  get stacked diagnostics error_state = returned_sqlstate, error_message = message_text;
  raise exception using message = app_private.tenant_step_failure(target, step_version, error_message, error_state), errcode = error_state;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.assert_export_fits(tenant_schema text, max_bytes bigint)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  table_name text;
  row_bytes integer;
  total bigint := 0;
begin
  for table_name in select app_private.tenant_tables() loop
    -- Row by row (a cursor), so measuring holds one row at a time and stops at the bound.
    for row_bytes in execute format('select octet_length(to_jsonb(x)::text) from %I.%I x', tenant_schema, table_name) loop
      total := total + row_bytes;
      if total > max_bytes then
        raise exception 'This tenant''s data is too large to export in one document: its rows exceed the limit of % bytes (EXPORT_MAX_BYTES)', max_bytes
          using errcode = 'SFBIG';
      end if;
    end loop;
  end loop;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.assert_tenant_available(tenant_id integer)
 RETURNS integer
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
begin
  if exists (select 1 from app_private.tenant_schemas ts, app_private.tenant_schemas tpl
              where ts.tenant_id = assert_tenant_available.tenant_id and tpl.schema_name = 'tenant_template'
                and ts.version < tpl.version) then
    raise exception 'This tenant''s data is under maintenance; retry later' using errcode = 'SFMNT';
  end if;
  return tenant_id;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.begin_login(email text, client_address text, max_failures_per_email integer, max_attempts_per_address integer, window_seconds integer, known_for_days integer)
 RETURNS TABLE(retry_after integer, user_id integer, password_hash text, credential_version integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.begin_password_change(user_id integer, max_failures integer, window_seconds integer)
 RETURNS TABLE(retry_after integer, password_hash text, credential_version integer)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
begin
  retry_after := app_private.reserve_attempts(
    array[app_private.throttle_key('password-change', begin_password_change.user_id::text)], array[max_failures], window_seconds);
  if retry_after = 0 then
    select s.password_hash, s.credential_version into password_hash, credential_version
      from app_private.user_secrets s where s.user_id = begin_password_change.user_id;
  end if;
  return next;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.begin_registration(email text, client_address text, max_per_address integer, max_per_email integer, window_seconds integer)
 RETURNS integer
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select app_private.reserve_attempts(
    array[app_private.throttle_key('registration-address', client_address), app_private.throttle_key('registration-email', email)],
    array[max_per_address, max_per_email], window_seconds)
$function$
;

CREATE OR REPLACE FUNCTION app_private.billing_paid(tenant integer, tier text, paid_at timestamp with time zone, next_billing timestamp with time zone)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  current public.subscriptions := app_private.current_period(tenant);
begin
  if current.tier is distinct from tier then
    current := app_private.switch_period(tenant, tier, 'active', 'expired', now());
  elsif current.status::text = 'suspended' then -- a billing suspension (not staff's) is lifted by the payment
    update public.tenants t set subscription_status = 'active' where t.id = tenant and t.subscription_status = 'suspended';
  end if;
  update public.subscriptions s set status = 'active', grace_ends_at = null, cancels_at = null, payment_method = 'stripe',
         last_payment_date = paid_at, next_billing_date = coalesce(next_billing, s.next_billing_date)
   where s.id = current.id;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.cancel_email_change(token_hash bytea)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.catch_up_tenants_in_development()
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  target text;
  step_version int;
  error_state text;
  error_message text;
begin
  if current_setting('stoflow.catch_up_tenants', true) is distinct from 'on' then
    return;
  end if;
  for target, step_version in
    select ts.schema_name, s.version from app_private.tenant_schemas ts join app_private.tenant_ddl_steps s on s.version > ts.version
     where ts.tenant_id is not null order by ts.tenant_id, s.version loop
    begin
      perform app_private.apply_tenant_ddl_step_named(target, step_version);
    exception when others then
      get stacked diagnostics error_state = returned_sqlstate, error_message = message_text;
      raise exception using message = error_message, errcode = error_state,
        hint = 'Nothing of this run of current.sql was kept: fix that tenant''s data (npm run psql) or the step, then save again.';
    end;
  end loop;
  delete from app_private.tenant_migration_failures;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.check_user_token(token_hash bytea, purpose text, client_address text, max_attempts integer, window_seconds integer)
 RETURNS TABLE(retry_after integer, outcome text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
begin
  retry_after := app_private.reserve_attempts(array[app_private.throttle_key('token-address', client_address)],
                                              array[max_attempts], window_seconds);
  if retry_after = 0 then
    outcome := coalesce((select app_private.user_token_outcome(t, check_user_token.purpose) from app_private.user_tokens t
                          where t.token_hash = check_user_token.token_hash), 'invalid');
  end if;
  return next;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.commented_constraints(tables oid[], only_constraint text DEFAULT NULL::text)
 RETURNS TABLE(table_name text, constraint_name text, field text, message text)
 LANGUAGE sql
 STABLE
AS $function$
  with commented as (
    select con.conrelid as table_oid, con.conname::text as constraint_name, con.contype = 'f' as foreign_key,
           con.conkey[1] as first_column, d.description
      from pg_catalog.pg_constraint con
      join pg_catalog.pg_description d on d.objoid = con.oid and d.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass and d.objsubid = 0
     where con.conrelid = any (tables) and (only_constraint is null or con.conname = only_constraint)
    union all
    select x.indrelid, i.relname::text, false, x.indkey[0], d.description
      from pg_catalog.pg_index x join pg_catalog.pg_class i on i.oid = x.indexrelid
      join pg_catalog.pg_description d on d.objoid = i.oid and d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objsubid = 0
     where x.indisunique and x.indrelid = any (tables) and (only_constraint is null or i.relname = only_constraint)
  ), parsed as (
    select table_oid, constraint_name, first_column, pg_catalog.substring(description, '(?n)^@field[ \t]+(\S+)') as tagged_field,
           coalesce(pg_catalog.substring(description, '(?n)^@message[ \t]+(.*\S)'),
                    case when not foreign_key
                         then nullif(pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.regexp_replace(description, '(?n)^@.*$', '', 'g'), '\s+', ' ', 'g')), '') end) as message
      from commented
  )
  select c.relname::text, p.constraint_name, coalesce(p.tagged_field, app_private.graphql_field_name(a.attname)), p.message
    from parsed p join pg_catalog.pg_class c on c.oid = p.table_oid
    left join pg_catalog.pg_attribute a on a.attrelid = p.table_oid and a.attnum = p.first_column
   where p.message is not null
$function$
;

CREATE OR REPLACE FUNCTION app_private.confirm_email_change(token_hash bytea, OUT outcome text, OUT changed boolean)
 RETURNS record
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.confirm_password(user_id integer, session_id uuid, checked_version integer, ttl interval)
 RETURNS timestamp with time zone
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.constraint_message(table_name text, constraint_name text, column_name text)
 RETURNS TABLE(field text, message text)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  with api_table as (
    select coalesce(to_regclass(format('tenant_template.%I', table_name)), to_regclass(format('public.%I', table_name)))::oid as oid
  )
  select found.field, found.message from (
    select 1 as rank, b.field, b.message from api_table t, app_private.commented_constraints(array[t.oid], constraint_message.constraint_name) b
     where constraint_message.constraint_name is not null
    union all
    select 2, m.field, m.message from app_private.constraint_messages m
     where m.table_name = constraint_message.table_name and m.constraint_name = constraint_message.constraint_name
    union all
    select 3, app_private.graphql_field_name(a.attname), app_private.graphql_field_name(a.attname) || ' is required'
      from api_table t join pg_attribute a on a.attrelid = t.oid and a.attname = constraint_message.column_name
     where constraint_message.constraint_name is null and a.attnotnull
  ) found order by found.rank limit 1
$function$
;

CREATE OR REPLACE FUNCTION app_private.constraint_messages()
 RETURNS TABLE(table_name text, constraint_name text, column_name text, field text, message text)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  with api_tables as (
    select array_agg(c.oid) as oids from pg_class c
     where c.relnamespace in ('public'::regnamespace, 'tenant_template'::regnamespace) and c.relkind in ('r', 'p')
  ), beside as (
    select b.* from api_tables, app_private.commented_constraints(api_tables.oids) b
  )
  select b.table_name, b.constraint_name, null, b.field, b.message from beside b
  union all
  select m.table_name, m.constraint_name, null, m.field, m.message from app_private.constraint_messages m
   where not exists (select 1 from beside b where b.table_name = m.table_name and b.constraint_name = m.constraint_name)
  union all
  select c.relname::text, null, a.attname::text, app_private.graphql_field_name(a.attname),
         app_private.graphql_field_name(a.attname) || ' is required'
    from pg_attribute a join pg_class c on c.oid = a.attrelid
   where c.relnamespace in ('public'::regnamespace, 'tenant_template'::regnamespace)
     and c.relkind = 'r' and a.attnum > 0 and a.attnotnull and not a.attisdropped
$function$
;

CREATE OR REPLACE FUNCTION app_private.count_in_tenant(schema_name text, query text)
 RETURNS integer
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  result int;
begin
  execute replace(query, '{schema}', quote_ident(schema_name)) into result;
  return coalesce(result, 0);
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.current_period(tenant integer)
 RETURNS subscriptions
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$ select * from public.subscriptions s where s.tenant_id = tenant and s.end_date is null $function$
;

CREATE OR REPLACE FUNCTION app_private.current_tenant_id()
 RETURNS integer
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$ select nullif(current_setting('jwt.claims.tenant_id', true), '')::int $function$
;

CREATE OR REPLACE FUNCTION app_private.current_tenant_schema()
 RETURNS text
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$ select 'client_' || app_private.current_tenant_id() $function$
;

CREATE OR REPLACE FUNCTION app_private.current_user_id()
 RETURNS integer
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$ select nullif(current_setting('jwt.claims.user_id', true), '')::int $function$
;

CREATE OR REPLACE FUNCTION app_private.enter_tenant_schema()
 RETURNS text
 LANGUAGE sql
AS $function$ select set_config('search_path', coalesce(quote_ident(app_private.current_tenant_schema()) || ', ', '') || 'public', true) $function$
;

CREATE OR REPLACE FUNCTION app_private.finish_login(user_id integer, credential_version integer, email text, client_address text, refresh_token_hash bytea, refresh_ttl interval, known_for_days integer)
 RETURNS uuid
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.forget_expired_tokens()
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  -- Tokens and invitations expired a day ago tell nothing more: a few are forgotten at each issue.
  delete from app_private.user_tokens d where d.token_hash in (
    select t.token_hash from app_private.user_tokens t where t.expires_at < now() - interval '1 day'
     order by t.expires_at limit 16 for update skip locked);
  delete from public.invitations d where d.id in (
    select i.id from public.invitations i where i.expires_at < now() - interval '1 day'
     order by i.expires_at limit 16 for update skip locked);
$function$
;

CREATE OR REPLACE FUNCTION app_private.graphql_field_name(column_name text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select string_agg(case when i = 1 then part else initcap(part) end, '' order by i)
    from unnest(string_to_array(column_name, '_')) with ordinality as t(part, i)
$function$
;

CREATE OR REPLACE FUNCTION app_private.invitation_may_be_accepted(invitation_id integer)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  -- Pending, unexpired, its address still nobody's, and its inviter still an admin who may act.
  select exists (
    select 1 from public.invitations i
      join public.users inviter on inviter.id = i.invited_by
      join public.tenants t on t.id = i.tenant_id
     where i.id = invitation_may_be_accepted.invitation_id and i.expires_at > now()
       and inviter.role = 'admin' and app_private.account_may_act(inviter, t)
       and not exists (select 1 from public.users u where lower(u.email) = lower(i.email)))
$function$
;

CREATE OR REPLACE FUNCTION app_private.invite(email text, full_name text, role user_role, ttl interval, max_per_inviter integer, max_per_tenant integer, window_seconds integer, OUT retry_after integer, OUT invitation_id integer)
 RETURNS record
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.is_email_address(address text)
 RETURNS boolean
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$ select address ~ '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$' $function$
;

CREATE OR REPLACE FUNCTION app_private.issue_account_token(purpose text, address text, token_hash bytea, ttl interval, requested_at timestamp with time zone)
 RETURNS TABLE(email text, full_name text, tenant_name text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.issue_email_change_token(change_id bigint, side text, token_hash bytea)
 RETURNS TABLE(email text, full_name text, new_email text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.issue_invitation_token(invitation_id integer, token_hash bytea, max_per_recipient integer, window_seconds integer, first_attempt boolean)
 RETURNS TABLE(email text, tenant_name text, role text)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.lagging_tenant_schemas()
 RETURNS TABLE(tenant_id integer, schema_name text, version integer, latest integer, missing text[], failure text, failed_at timestamp with time zone)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.live_listen(gateway text, tenant_ids integer[])
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  delete from app_private.live_listeners l
    where (l.gateway = live_listen.gateway and l.tenant_id <> all (live_listen.tenant_ids))
       or l.renewed_at < now() - interval '2 minutes';
  insert into app_private.live_listeners (tenant_id, gateway)
    select distinct t, live_listen.gateway from unnest(live_listen.tenant_ids) t
    on conflict on constraint live_listeners_pkey do update set renewed_at = now();
$function$
;

CREATE OR REPLACE FUNCTION app_private.locked_tenant(schema_name text)
 RETURNS tenants
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select * from public.tenants where id = app_private.tenant_id_of_schema(locked_tenant.schema_name) for no key update
$function$
;

CREATE OR REPLACE FUNCTION app_private.login_address_known(email text, client_address text, known_for_days integer)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select exists (
    select 1
      from public.users u
      join app_private.user_secrets s on s.user_id = u.id
      join app_private.login_known_addresses k on k.user_id = u.id and k.credential_version = s.credential_version
     where lower(u.email) = lower(login_address_known.email)
       and k.address_hash = app_private.address_hash(client_address)
       and k.signed_in_at > now() - make_interval(days => known_for_days))
$function$
;

CREATE OR REPLACE FUNCTION app_private.login_candidate(email text)
 RETURNS TABLE(user_id integer, password_hash text, credential_version integer)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select u.id, s.password_hash, s.credential_version
    from public.users u join app_private.user_secrets s on s.user_id = u.id
   where lower(u.email) = lower(login_candidate.email)
$function$
;

CREATE OR REPLACE FUNCTION app_private.login_failure_key(email text, client_address text, known_for_days integer)
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select case when app_private.login_address_known(email, client_address, known_for_days)
    then app_private.throttle_key('login-known-address', email || ' ' || client_address)
    else app_private.throttle_key('login-email', email) end
$function$
;

CREATE OR REPLACE FUNCTION app_private.migrate_tenant_schema(target text)
 RETURNS text
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.open_session(user_id integer, credential_version integer, refresh_token_hash bytea, refresh_ttl interval)
 RETURNS uuid
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  with s as (
    insert into app_private.sessions (user_id, credential_version)
    select u.id, sec.credential_version
      from public.users u
      join public.tenants t on t.id = u.tenant_id
      join app_private.user_secrets sec on sec.user_id = u.id
     where u.id = open_session.user_id and app_private.account_may_act(u, t)
       and sec.credential_version = open_session.credential_version
    returning id
  ), t as (
    insert into app_private.refresh_tokens (token_hash, session_id, expires_at)
    select refresh_token_hash, s.id, now() + refresh_ttl from s
  )
  select id from s
$function$
;

CREATE OR REPLACE FUNCTION app_private.open_transaction(settings json, session_known_live boolean)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
begin
  perform pg_catalog.set_config(setting->>0, setting->>1, true)
     from pg_catalog.json_array_elements(settings) setting;
  if coalesce(pg_catalog.current_setting('jwt.claims.session_id', true), '') <> '' then
    if session_known_live then
      perform app_private.require_tenant_available();
    else
      perform app_private.require_live_session();
    end if;
  end if;
  if coalesce(pg_catalog.current_setting('jwt.claims.tenant_id', true), '') <> '' then
    perform app_private.enter_tenant_schema();
  end if;
end
$function$
;

CREATE OR REPLACE FUNCTION app_private.pending_invitations()
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select coalesce(jsonb_agg(jsonb_build_object('id', i.id, 'email', i.email, 'full_name', i.full_name, 'role', i.role,
                                               'invited_by', i.invited_by, 'created_at', i.created_at, 'expires_at', i.expires_at)
                            order by i.id), '[]')
    from public.invitations i where i.tenant_id = app_private.current_tenant_id() and i.expires_at > now()
$function$
;

CREATE OR REPLACE FUNCTION app_private.pending_tenant_schemas(max_rows integer, failed_since timestamp with time zone, only_tenant integer DEFAULT NULL::integer)
 RETURNS SETOF text
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select ts.schema_name from app_private.tenant_schemas ts
   where ts.version < (select coalesce(max(version), 0) from app_private.tenant_ddl_steps)
     and (only_tenant is null or ts.tenant_id = only_tenant)
     and not exists (select 1 from app_private.tenant_migration_failures f
                      where f.schema_name = ts.schema_name and f.failed_at >= failed_since)
   order by ts.tenant_id nulls first
   limit max_rows
$function$
;

CREATE OR REPLACE FUNCTION app_private.publish_live_changes(max_changes integer)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  change record;
  taken int := 0;
begin
  -- One publisher at a time, so that batches go out in queue order; another gateway tries again at its next tick.
  if not pg_try_advisory_xact_lock(hashtext('app_private.live_outbox')) then
    return 0;
  end if;
  for change in
    with batch as (
      delete from app_private.live_outbox
       where id in (select o.id from app_private.live_outbox o order by o.id limit max_changes)
      returning *)
    select b.*, exists (
             select 1 from app_private.live_listeners l
              where l.tenant_id = b.tenant_id and l.renewed_at > now() - interval '2 minutes') as listened
      from batch b order by b.id
  loop
    taken := taken + 1;
    if change.listened then
      perform pg_notify('stoflow_live', json_build_object('t', change.tenant_id, 'k', change.kind, 'op', change.op, 'id', change.key)::text);
    end if;
  end loop;
  return taken;
end
$function$
;

CREATE OR REPLACE FUNCTION app_private.queue_account_email(purpose text, email text, priority integer DEFAULT 0)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  -- One pending message per address and purpose: a new request replaces the one not sent yet.
  select null from graphile_worker.add_job('account_email', json_build_object('purpose', purpose, 'email', email, 'requested_at', now()),
    job_key => purpose || ':' || lower(email), job_key_mode => 'replace', priority => priority)
$function$
;

CREATE OR REPLACE FUNCTION app_private.queue_billing_email(kind text, period subscriptions)
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select null from (
    select graphile_worker.add_job('billing_email',
             json_build_object('kind', kind, 'email', u.email, 'name', u.full_name, 'shop', t.name,
                               'tier', period.tier, 'trial_ends_at', period.trial_ends_at),
             job_key => kind || ':' || period.id || ':' || u.id)
      from public.users u join public.tenants t on t.id = u.tenant_id
     where u.tenant_id = period.tenant_id and u.role = 'admin' and u.is_active) queued
$function$
;

CREATE OR REPLACE FUNCTION app_private.queue_invitation_email(invitation invitations)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  -- A resent or renewed invitation's earlier links stop working: only the new message's does.
  delete from app_private.user_tokens t where t.invitation_id = invitation.id;
  select null from graphile_worker.add_job('account_email', json_build_object('purpose', 'invitation', 'invitation_id', invitation.id),
    queue_name => 'invitations:' || invitation.tenant_id, job_key => 'invitation:' || invitation.id, job_key_mode => 'replace',
    priority => 10 + app_private.sender_share(app_private.throttle_key('invitation-tenant', invitation.tenant_id::text)) - 1)
$function$
;

CREATE OR REPLACE FUNCTION app_private.record_checkout_session(session_id text, tier text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
begin
  if app_private.current_tenant_id() is null then
    raise exception 'No tenant' using errcode = '42501';
  end if;
  insert into app_private.checkout_sessions (id, tenant_id, tier) values (session_id, app_private.current_tenant_id(), tier);
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.register_tenant(tenant_name text, email text, password_hash text, tier text DEFAULT NULL::text)
 RETURNS app_private.jwt_claims
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  new_tenant public.tenants;
  new_user_id int;
  new_schema text;
  target public.tiers;
  terms_status text;
  terms_trial timestamptz;
begin
  if tier is not null then
    select * into target from public.tiers t where t.id = register_tenant.tier;
    if not found then
      raise exception 'Unknown subscription tier "%"', register_tenant.tier using errcode = '22023';
    end if;
    select * into terms_status, terms_trial from app_private.self_service_terms(null, target);
  end if;
  if terms_status is null then
    insert into public.tenants (name, email) values (tenant_name, register_tenant.email) returning * into new_tenant;
  else
    insert into public.tenants (name, email, subscription_tier) values (tenant_name, register_tenant.email, target.id)
      returning * into new_tenant;
  end if;
  new_schema := new_tenant.schema_name;
  execute format('create schema %I', new_schema);
  execute format('comment on schema %I is %L', new_schema, 'Tables of tenant ' || new_tenant.id || '.');
  insert into app_private.tenant_schemas (schema_name, tenant_id) values (new_schema, new_tenant.id);
  perform app_private.apply_tenant_ddl(new_schema);
  insert into public.users (tenant_id, email, full_name, role)
    values (new_tenant.id, register_tenant.email, tenant_name, 'admin')
    returning id into new_user_id;
  insert into app_private.user_secrets (user_id, password_hash) values (new_user_id, register_tenant.password_hash);
  insert into public.subscriptions (tenant_id, tier, price_monthly, status, trial_ends_at)
    select new_tenant.id, t.id, t.price_monthly, coalesce(terms_status, 'active')::public.subscription_status, terms_trial
      from public.tiers t where t.id = new_tenant.subscription_tier;
  return (new_user_id, new_tenant.id, 'admin')::app_private.jwt_claims;
exception
  when unique_violation then
    raise exception 'Email already registered' using errcode = '23505';
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.request_account_email(email text, purpose text, client_address text, max_per_email integer, max_per_address integer, window_seconds integer)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.request_email_change(new_email text, session_id uuid, checked_version integer, ttl interval, client_address text, max_per_email integer, max_per_address integer, window_seconds integer, OUT retry_after integer, OUT accepted boolean)
 RETURNS record
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.require_live_session()
 RETURNS void
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.require_live_session(user_id integer, tenant_id integer, app_role text, session_id uuid)
 RETURNS void
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  live record;
begin
  select u.tenant_id, u.role::text as role into live
    from app_private.sessions s
    join public.users u on u.id = s.user_id
    join public.tenants t on t.id = u.tenant_id
    join app_private.user_secrets sec on sec.user_id = u.id
   where s.id = require_live_session.session_id and s.user_id = require_live_session.user_id
     and s.revoked_at is null and s.credential_version = sec.credential_version and app_private.account_may_act(u, t);
  if not found then
    raise exception 'Session ended or account inactive' using errcode = 'SFSES';
  end if;
  if live.tenant_id is distinct from require_live_session.tenant_id or live.role is distinct from app_role then
    raise exception 'Token outdated; refresh it' using errcode = 'SFSES';
  end if;
  perform app_private.assert_tenant_available(live.tenant_id); -- SFMNT while the tenant's schema lags
end
$function$
;

CREATE OR REPLACE FUNCTION app_private.require_reauthentication(action text)
 RETURNS void
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.require_tenant_available()
 RETURNS void
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  tenant_id text := current_setting('jwt.claims.tenant_id', true);
begin
  if coalesce(tenant_id, '') <> '' then
    perform app_private.assert_tenant_available(tenant_id::int); -- SFMNT while the tenant's schema lags
  end if;
end
$function$
;

CREATE OR REPLACE FUNCTION app_private.resend_invitation(invitation_id integer, ttl interval, max_per_inviter integer, max_per_tenant integer, window_seconds integer)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.reserve_attempts(keys text[], max_attempts integer[], window_seconds integer)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  wait int;
begin
  -- Forget a few counters whose window ended (skipping rows another transaction holds), so the
  -- table holds about the counters of the current windows and never grows without bound.
  delete from app_private.attempt_counters
   where key in (select c.key from app_private.attempt_counters c where c.window_ends_at <= now()
                  order by c.window_ends_at limit 16 for update skip locked);
  -- Check and count in one statement: the row lock makes parallel attempts on one key queue, and
  -- each sees the count of the ones before it. Keys are taken in order, so callers cannot deadlock.
  with wanted as (
    select k.key, k.max_attempts from unnest(keys, max_attempts) as k(key, max_attempts)
  ), counted as (
    insert into app_private.attempt_counters as c (key, window_ends_at, attempts)
    select w.key, now() + make_interval(secs => window_seconds), 1 from wanted w order by w.key
    on conflict (key) do update set
      window_ends_at = case when c.window_ends_at <= now() then excluded.window_ends_at else c.window_ends_at end,
      attempts = case when c.window_ends_at <= now() then 1 else c.attempts + 1 end
    returning c.key, c.window_ends_at, c.attempts
  )
  select max(ceil(extract(epoch from counted.window_ends_at - now())))::int into wait
    from counted join wanted using (key)
   where counted.attempts > wanted.max_attempts;
  if wait is null then
    return 0;
  end if;
  -- Refused: all or nothing, the attempt counts under none of its keys.
  update app_private.attempt_counters set attempts = attempts - 1 where key = any(keys);
  return greatest(wait, 1);
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.reserve_invitation(max_per_inviter integer, max_per_tenant integer, window_seconds integer)
 RETURNS integer
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select app_private.reserve_attempts(
    array[app_private.throttle_key('invitation-inviter', app_private.current_user_id()::text),
          app_private.throttle_key('invitation-tenant', app_private.current_tenant_id()::text)],
    array[max_per_inviter, max_per_tenant], window_seconds)
$function$
;

CREATE OR REPLACE FUNCTION app_private.reset_password(token_hash bytea, password_hash text)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.revoke_dependent_credentials(user_ids integer[], event text, keep_session uuid DEFAULT NULL::uuid)
 RETURNS void
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.revoke_invitation(invitation_id integer)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
begin
  delete from public.invitations i where i.id = revoke_invitation.invitation_id and i.tenant_id = app_private.current_tenant_id();
  if not found then
    raise exception 'No such invitation' using errcode = 'P0002';
  end if;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.revoke_session(session_id uuid, reason text)
 RETURNS boolean
 LANGUAGE sql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  update app_private.sessions set revoked_at = now(), revoked_reason = reason
   where id = revoke_session.session_id and revoked_at is null
  returning true
$function$
;

CREATE OR REPLACE FUNCTION app_private.role_rank(role user_role)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$ select array_position(array['viewer', 'user', 'admin']::public.user_role[], role) $function$
;

CREATE OR REPLACE FUNCTION app_private.rotate_refresh_token(old_hash bytea, new_hash bytea, refresh_ttl interval)
 RETURNS app_private.refresh_result
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  token app_private.refresh_tokens;
  session app_private.sessions;
  account record;
begin
  select * into token from app_private.refresh_tokens where token_hash = old_hash for update;
  if not found then
    return ('invalid', null, null, null, null)::app_private.refresh_result;
  end if;
  select * into session from app_private.sessions where id = token.session_id for update;
  if session.revoked_at is not null
     or session.credential_version is distinct from (select s.credential_version from app_private.user_secrets s where s.user_id = session.user_id) then
    return ('invalid', null, null, null, null)::app_private.refresh_result;
  end if;
  if token.used_at is not null then
    update app_private.sessions set revoked_at = now(), revoked_reason = 'refresh token reused'
      where id = session.id;
    return ('reused', null, null, null, null)::app_private.refresh_result;
  end if;
  if token.expires_at <= now() then
    return ('expired', null, null, null, null)::app_private.refresh_result;
  end if;
  select u.id, u.tenant_id, u.role into account
    from public.users u join public.tenants t on t.id = u.tenant_id
   where u.id = session.user_id and app_private.account_may_act(u, t);
  if not found then
    return ('inactive', null, null, null, null)::app_private.refresh_result;
  end if;
  update app_private.refresh_tokens set used_at = now() where token_hash = old_hash;
  insert into app_private.refresh_tokens (token_hash, session_id, expires_at)
    values (new_hash, session.id, now() + refresh_ttl);
  update app_private.sessions set last_refreshed_at = now() where id = session.id;
  return ('ok', account.id, account.tenant_id, account.role, session.id)::app_private.refresh_result;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.run_billing_clock(at timestamp with time zone, reminder interval)
 RETURNS integer
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  period public.subscriptions;
  changed int := 0;
begin
  for period in
    select * from public.subscriptions s
     where s.end_date is null and s.status::text = 'trialing' and s.trial_reminded_at is null
       and s.trial_ends_at > at and s.trial_ends_at - reminder <= at
       for update
  loop
    perform app_private.queue_billing_email('trial_ending', period);
    update public.subscriptions s set trial_reminded_at = at where s.id = period.id;
    changed := changed + 1;
  end loop;
  for period in
    select * from public.subscriptions s
     where s.end_date is null
       and ((s.status::text = 'trialing' and s.trial_ends_at <= at) or s.cancels_at <= at
            or (s.status::text = 'past_due' and s.grace_ends_at <= at))
     order by s.tenant_id
       for update
  loop
    perform 1 from public.tenants t where t.id = period.tenant_id for update;
    if period.cancels_at <= at then
      perform app_private.switch_period(period.tenant_id, 'starter', 'active', 'cancelled', period.cancels_at);
    elsif period.status::text = 'trialing' then
      perform app_private.switch_period(period.tenant_id, 'starter', 'active', 'expired', period.trial_ends_at);
      perform app_private.queue_billing_email('trial_ended', period);
    else
      update public.subscriptions s set status = 'suspended' where s.id = period.id;
      update public.tenants t set subscription_status = 'suspended' where t.id = period.tenant_id;
    end if;
    changed := changed + 1;
  end loop;
  return changed;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.self_service_terms(tenant integer, target tiers, OUT status text, OUT trial_ends timestamp with time zone)
 RETURNS record
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  current public.subscriptions := app_private.current_period(tenant);
begin
  if target.price_monthly = 0 or app_private.upgrades_are_immediate() then
    status := 'active';
  elsif app_private.trial_days() > 0
        and not coalesce(current.status::text in ('active', 'past_due', 'suspended') and current.price_monthly > 0, false)
        and not exists (select 1 from public.subscriptions s where s.tenant_id = tenant and s.tier = target.id and s.trial_ends_at is not null) then
    status := 'trialing';
    trial_ends := now() + make_interval(days => app_private.trial_days());
  end if;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.sender_share(key text)
 RETURNS integer
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$ select coalesce((select c.attempts from app_private.attempt_counters c where c.key = sender_share.key and c.window_ends_at > now()), 1) $function$
;

CREATE OR REPLACE FUNCTION app_private.server_status()
 RETURNS TABLE(applied_migrations integer, tenant_schemas_behind integer, tenants integer, lagging_tenants integer[])
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select (select count(*)::int from graphile_migrate.migrations),
         (select count(*)::int from app_private.lagging_tenant_schemas()),
         (select count(*)::int from public.tenants),
         array(select l.tenant_id from app_private.lagging_tenant_schemas() l limit 20)
$function$
;

CREATE OR REPLACE FUNCTION app_private.session_holds(session_id uuid, user_id integer, checked_version integer)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select exists (select 1 from app_private.sessions s
                  where s.id = session_holds.session_id and s.user_id = session_holds.user_id
                    and s.revoked_at is null and s.credential_version = checked_version)
$function$
;

CREATE OR REPLACE FUNCTION app_private.session_user_and_tenant(user_id integer)
 RETURNS jsonb
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select jsonb_build_object(
    'user', jsonb_build_object('id', u.id, 'email', u.email, 'full_name', u.full_name, 'role', u.role,
                               'email_verified', u.email_verified_at is not null),
    'tenant', jsonb_build_object('id', t.id, 'name', t.name, 'subscription_tier', t.subscription_tier,
                                 'schema_name', t.schema_name))
    from public.users u join public.tenants t on t.id = u.tenant_id
   where u.id = session_user_and_tenant.user_id
$function$
;

CREATE OR REPLACE FUNCTION app_private.set_password(user_id integer, password_hash text, session_id uuid, checked_version integer)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.set_tenant_tier(tenant integer, tier text)
 RETURNS subscriptions
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  opened public.subscriptions;
begin
  perform 1 from public.tenants t where t.id = tenant for update;
  if not found then
    raise exception 'No tenant %', tenant using errcode = 'P0002';
  elsif not exists (select 1 from public.tiers t where t.id = set_tenant_tier.tier) then
    raise exception 'Unknown subscription tier "%"', tier using errcode = '22023';
  end if;
  opened := app_private.switch_period(tenant, tier, 'active', 'expired', now());
  update public.subscriptions s set payment_method = 'operator' where s.id = opened.id returning * into opened;
  update public.tenants t set subscription_status = 'active' where t.id = tenant and t.subscription_status = 'suspended';
  return opened;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.switch_period(tenant integer, tier text, status text, closed_as text, at timestamp with time zone, trial_ends timestamp with time zone DEFAULT NULL::timestamp with time zone)
 RETURNS subscriptions
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  opened public.subscriptions;
  billing_suspended boolean := coalesce((app_private.current_period(tenant)).status::text = 'suspended', false);
begin
  update public.subscriptions s set end_date = greatest(at, s.start_date), status = closed_as::public.subscription_status
   where s.tenant_id = tenant and s.end_date is null;
  insert into public.subscriptions (tenant_id, tier, price_monthly, status, trial_ends_at, start_date)
    select tenant, t.id, t.price_monthly, switch_period.status::public.subscription_status, trial_ends,
           greatest(at, (select max(s.end_date) from public.subscriptions s where s.tenant_id = tenant))
      from public.tiers t where t.id = switch_period.tier
    returning * into opened;
  -- The tenant's status follows billing's suspensions only (the closed period's, the new one's): a suspension by staff stays.
  update public.tenants t set subscription_tier = switch_period.tier,
         subscription_status = case when switch_period.status = 'suspended' then 'suspended'
                                    when billing_suspended and t.subscription_status = 'suspended' then 'active'
                                    else t.subscription_status end
   where t.id = tenant;
  return opened;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.tenant_fingerprints(schema_names text[])
 RETURNS TABLE(schema_name text, fingerprint text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
 SET work_mem TO '64MB'
AS $function$
  with spaces as (
    -- A policy's expression holds the schema's own name as a text constant (current_tenant_schema()
    -- = 'client_42'); this is how that constant reads in pg_node_tree's text: its length with the
    -- 4-byte varlena header, then its bytes as signed chars, the header little-endian (x86-64 and
    -- ARM servers). On a big-endian server nothing matches: every tenant then differs from the
    -- template and is compared line by line, slower, never wrong.
    select n.oid, n.nspname::text as nspname, n.nspacl,
           format(':constvalue %s [ %s ]', octet_length(n.nspname::text) + 4,
                  (select string_agg(case when b > 127 then b - 256 else b end::text, ' ' order by i)
                     from (select i, get_byte(int4send((octet_length(n.nspname::text) + 4) * 4), 3 - i) as b
                             from generate_series(0, 3) i
                           union all
                           select 4 + i, get_byte(convert_to(n.nspname::text, 'UTF8'), i)
                             from generate_series(0, octet_length(n.nspname::text) - 1) i) bytes)) as own_name
      from pg_namespace n where n.nspname = any(schema_names)
  ), rels as (
    select s.oid as nsp, s.own_name, c.oid, c.relname, c.relkind, c.relrowsecurity, c.relacl
      from pg_class c join spaces s on s.oid = c.relnamespace
     where c.relkind in ('r', 'p', 'v', 'm', 'f')
  ), lines(nsp, h) as (
    select s.oid, hash_record_extended(row('schema'::text, s.nspacl), 0) from spaces s
    union all
    select r.nsp, hash_record_extended(row('table'::text, r.relname, r.relkind, r.relrowsecurity, r.relacl), 0) from rels r
    union all
    select r.nsp, hash_record_extended(row('column'::text, r.relname, a.attname, a.attnum,
                    case when a.atttypid < 16384 then a.atttypid::text
                         else (select case when t.typnamespace = r.nsp then '{schema}.'::text || t.typname else t.oid::text end
                                 from pg_type t where t.oid = a.atttypid) end,
                    a.atttypmod, a.attnotnull, a.attidentity, a.attgenerated, a.attacl), 0)
      from rels r join pg_attribute a on a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped -- a dropped one keeps no grant
    union all
    select r.nsp, hash_record_extended(row('default'::text, r.relname, d.adnum, d.adbin::text), 0)
      from rels r join pg_attrdef d on d.adrelid = r.oid
    union all
    select r.nsp, hash_record_extended(row('constraint'::text, r.relname, con.conname, con.contype, con.condeferrable, con.condeferred,
                    con.convalidated, con.conenforced, con.connoinherit, con.conperiod, con.conkey, con.confkey, con.confupdtype,
                    con.confdeltype, con.confmatchtype, con.confdelsetcols, con.conexclop, con.conbin::text,
                    case when con.confrelid <> 0 then
                      (select case when f.relnamespace = r.nsp then '{schema}.'::text || f.relname else f.oid::text end
                         from pg_class f where f.oid = con.confrelid) end), 0)
      from rels r join pg_constraint con on con.conrelid = r.oid
    union all
    select r.nsp, hash_record_extended(row('index'::text, r.relname, ic.relname, ic.relam, ic.reloptions, i.indisunique,
                    i.indnullsnotdistinct, i.indisprimary, i.indimmediate, i.indnkeyatts, i.indkey::int2[], i.indclass,
                    i.indcollation, i.indoption::int2[], i.indexprs::text, i.indpred::text), 0)
      from rels r join pg_index i on i.indrelid = r.oid join pg_class ic on ic.oid = i.indexrelid
    union all
    select r.nsp, hash_record_extended(row('trigger'::text, r.relname, t.tgname, t.tgfoid, t.tgtype, t.tgenabled, t.tgdeferrable,
                    t.tginitdeferred, t.tgattr::int2[], t.tgargs, t.tgoldtable, t.tgnewtable, t.tgqual::text,
                    t.tgconstrrelid <> 0), 0)
      from rels r join pg_trigger t on t.tgrelid = r.oid and not t.tgisinternal
    union all
    select r.nsp, hash_record_extended(row('policy'::text, r.relname, p.polname, p.polcmd, p.polpermissive, p.polroles,
                    replace(p.polqual::text, r.own_name, ':constvalue {schema}'),
                    replace(p.polwithcheck::text, r.own_name, ':constvalue {schema}')), 0)
      from rels r join pg_policy p on p.polrelid = r.oid
  )
  select s.nspname, f.fingerprint
    from (select l.nsp, count(*) || ' ' || sum(l.h) as fingerprint from lines l group by l.nsp) f
    join spaces s on s.oid = f.nsp
$function$
;

CREATE OR REPLACE FUNCTION app_private.tenant_id_of_schema(schema_name text)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$ select substring(schema_name from '^client_([1-9][0-9]*)$')::int $function$
;

CREATE OR REPLACE FUNCTION app_private.tenant_signatures(schema_names text[])
 RETURNS TABLE(nsp text, sig text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  with spaces as (
    select n.oid, n.nspname::text as nspname, n.nspacl from pg_namespace n where n.nspname = any(schema_names)
  ), rels as (
    select s.nspname, c.oid, c.relname, c.relkind, c.relrowsecurity, c.relacl
      from pg_class c join spaces s on s.oid = c.relnamespace
     where c.relkind in ('r', 'p', 'v', 'm', 'f')
  ), lines(nspname, line) as (
    select nspname, format('table %s (kind %s, row level security %s)', relname, relkind,
                           case when relrowsecurity then 'on' else 'off' end)
      from rels
    union all
    select r.nspname, format('column %s.%s %s%s%s%s', r.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                             case when a.attnotnull then ' not null' else '' end,
                             case when a.attidentity <> '' then ' identity ' || a.attidentity::text else '' end,
                             coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''))
      from rels r join pg_attribute a on a.attrelid = r.oid and a.attnum > 0 and not a.attisdropped
      left join pg_attrdef d on d.adrelid = r.oid and d.adnum = a.attnum
    union all
    select r.nspname, format('constraint %s.%s %s', r.relname, con.conname, pg_get_constraintdef(con.oid))
      from rels r join pg_constraint con on con.conrelid = r.oid
    union all
    select r.nspname, format('index %s', pg_get_indexdef(i.indexrelid))
      from rels r join pg_index i on i.indrelid = r.oid
    union all
    select r.nspname, format('trigger %s', pg_get_triggerdef(t.oid))
      from rels r join pg_trigger t on t.tgrelid = r.oid and not t.tgisinternal
    union all
    select r.nspname, format('policy %s.%s %s to %s using (%s) check (%s)', r.relname, p.polname,
                             case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE'
                                           when 'd' then 'DELETE' else 'ALL' end,
                             (select coalesce(string_agg(coalesce(ro.rolname, 'public'), ',' order by ro.rolname), 'public')
                                from unnest(p.polroles) as pr(oid) left join pg_roles ro on ro.oid = pr.oid),
                             coalesce(pg_get_expr(p.polqual, p.polrelid), ''), coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''))
      from rels r join pg_policy p on p.polrelid = r.oid
    union all
    select r.nspname, format('grant %s on %s to %s', acl.privilege_type, r.relname, acl.grantee::regrole)
      from rels r, aclexplode(r.relacl) acl
    union all
    select r.nspname, format('grant %s (%s) on %s to %s', acl.privilege_type, a.attname, r.relname, acl.grantee::regrole)
      from rels r join pg_attribute a on a.attrelid = r.oid and a.attnum > 0, aclexplode(a.attacl) acl
    union all
    select s.nspname, format('grant %s on schema to %s', acl.privilege_type, acl.grantee::regrole)
      from spaces s, aclexplode(s.nspacl) acl
  )
  select l.nspname, regexp_replace(l.line, '\m' || l.nspname || '\M', '{schema}', 'g') from lines l
$function$
;

CREATE OR REPLACE FUNCTION app_private.tenant_step_failure(target text, step_version integer, error_message text, error_state text)
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select format('Tenant DDL step %s "%s" failed on %s: %s [%s]', step_version,
                (select s.name from app_private.tenant_ddl_steps s where s.version = step_version),
                case when app_private.tenant_id_of_schema(target) is null then target
                     else format('tenant %s (%s)', app_private.tenant_id_of_schema(target), target) end,
                error_message, error_state)
$function$
;

CREATE OR REPLACE FUNCTION app_private.tenant_structure_differences(schema_names text[])
 RETURNS TABLE(schema_name text, difference text, object text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  with tenants as (
    select ts.schema_name, ts.version from app_private.tenant_schemas ts
     where ts.tenant_id is not null and ts.schema_name = any(schema_names)
  ), template as (
    select sig from app_private.tenant_signatures(array['tenant_template'])
    union all
    select sig from app_private.tenant_trigger_states(array['tenant_template'])
  ), expected as (
    select t.schema_name as nsp, tpl.sig from tenants t cross join template tpl
  ), actual as (
    select nsp, sig from app_private.tenant_signatures(array(select schema_name from tenants))
    union all
    select nsp, sig from app_private.tenant_trigger_states(array(select schema_name from tenants))
  )
  select coalesce(e.nsp, a.nsp), case when a.sig is null then 'missing' else 'unexpected' end, coalesce(e.sig, a.sig)
    from expected e full join actual a on a.nsp = e.nsp and a.sig = e.sig
   where a.sig is null or e.sig is null
  union all
  select t.schema_name, 'version', format('at step %s, template at step %s', t.version, tpl.version)
    from tenants t, app_private.tenant_schemas tpl
   where tpl.schema_name = 'tenant_template' and t.version <> tpl.version
  order by 1, 2, 3
$function$
;

CREATE OR REPLACE FUNCTION app_private.tenant_structure_drift()
 RETURNS TABLE(schema_name text, difference text, object text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select * from app_private.tenant_structure_differences(array(select ts.schema_name from app_private.tenant_schemas ts where ts.tenant_id is not null))
$function$
;

CREATE OR REPLACE FUNCTION app_private.tenant_structure_drift_fast()
 RETURNS TABLE(schema_name text, difference text, object text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  with fingerprints as (
    select ts.schema_name, ts.tenant_id, ts.version, f.fingerprint
      from app_private.tenant_schemas ts
      left join app_private.tenant_fingerprints(array(select schema_name from app_private.tenant_schemas)) f on f.schema_name = ts.schema_name
  )
  select * from app_private.tenant_structure_differences(array(
    select t.schema_name from fingerprints t, fingerprints tpl
     where tpl.schema_name = 'tenant_template' and t.tenant_id is not null
       and (t.fingerprint is distinct from tpl.fingerprint or t.version <> tpl.version)))
$function$
;

CREATE OR REPLACE FUNCTION app_private.tenant_tables()
 RETURNS SETOF text
 LANGUAGE sql
 STABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
  select c.relname::text from pg_class c
   where c.relnamespace = 'tenant_template'::regnamespace and c.relkind = 'r'
   order by exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype = 'f') desc, c.relname
$function$
;

CREATE OR REPLACE FUNCTION app_private.tenant_trigger_states(schema_names text[])
 RETURNS TABLE(nsp text, sig text)
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select n.nspname::text, format('trigger %s.%s %s', c.relname, t.tgname,
                                 case t.tgenabled when 'D' then 'disabled' when 'R' then 'enabled on replica only'
                                                  when 'A' then 'enabled always' end)
    from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
   where t.tgenabled <> 'O' and not t.tgisinternal and n.nspname = any(schema_names)
$function$
;

CREATE OR REPLACE FUNCTION app_private.tenant_usage(tenant tenants, OUT active_products integer, OUT platforms text[], OUT ai_credits_used integer)
 RETURNS record
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
  select app_private.count_in_tenant(tenant.schema_name, 'select count(*) from {schema}.products where is_active'),
         coalesce((select array_agg(p.platform::text order by p.platform) from app_private.platform_usage p
                    where p.tenant_id = tenant.id), '{}'),
         coalesce((select a.credits_used from app_private.ai_credit_usage a
                    where a.tenant_id = tenant.id and a.month = app_private.usage_month()), 0)
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg__notify_live()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  tenant int := substring(tg_table_schema from '^client_([1-9][0-9]*)$')::int;
  row_key text;
begin
  if tenant is null then
    return null; -- tenant_template holds no rows anyone waits for
  end if;
  -- The key column by name (argument 2): each branch is planned only for the tables that take it.
  if tg_argv[1] = 'sku' then
    if tg_op = 'DELETE' then row_key := old.sku; else row_key := new.sku; end if;
  elsif tg_argv[1] = 'id' then
    if tg_op = 'DELETE' then row_key := old.id; else row_key := new.id; end if;
  else
    raise exception 'tg__notify_live: key column % is neither sku nor id', tg_argv[1];
  end if;
  insert into app_private.live_outbox (tenant_id, kind, op, key) values (tenant, tg_argv[0], tg_op, row_key);
  return null;
end
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg__set_updated_at()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
  new.updated_at := now();
  return new;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_ai_generations_log__enforce_ai_credits()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  t public.tenants := app_private.locked_tenant(tg_table_schema);
  used record;
begin
  if t.id is null or new.was_cached then
    return new;
  end if;
  select * into used from app_private.tenant_usage(t);
  if used.ai_credits_used >= t.ai_credits_monthly then
    raise exception 'AI credit limit reached: the % tier allows % generations a month and % are used this month',
      t.subscription_tier, t.ai_credits_monthly, used.ai_credits_used using errcode = 'SFLIM';
  end if;
  insert into app_private.ai_credit_usage as a (tenant_id, month, credits_used)
    values (t.id, app_private.usage_month(), 1)
    on conflict (tenant_id, month) do update set credits_used = a.credits_used + 1;
  return new;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_invitations__require_reauthentication()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
begin
  perform app_private.require_reauthentication('Inviting an admin');
  return new;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_products__enforce_product_limit()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  t public.tenants := app_private.locked_tenant(tg_table_schema);
  used record;
begin
  if t.id is null or t.max_products is null or (tg_op = 'UPDATE' and old.is_active) then
    return new;
  end if;
  select * into used from app_private.tenant_usage(t);
  if used.active_products >= t.max_products then
    raise exception 'Product limit reached: the % tier allows % active products and % are in use',
      t.subscription_tier, t.max_products, used.active_products using errcode = 'SFLIM';
  end if;
  return new;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_publications_history__enforce_platform_limit()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  t public.tenants := app_private.locked_tenant(tg_table_schema);
  used record;
begin
  if t.id is null then
    return new;
  end if;
  if t.max_platforms is not null then
    select * into used from app_private.tenant_usage(t);
    if not (new.platform = any(used.platforms)) and cardinality(used.platforms) >= t.max_platforms then
      raise exception 'Platform limit reached: the % tier allows % platforms and % are in use (%)',
        t.subscription_tier, t.max_platforms, cardinality(used.platforms), array_to_string(used.platforms, ', ')
        using errcode = 'SFLIM';
    end if;
  end if;
  -- Recorded on every tier: a later downgrade must see it.
  insert into app_private.platform_usage (tenant_id, platform) values (t.id, new.platform) on conflict do nothing;
  return new;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_publications_history__status_rules()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_sessions__notify_ended()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform pg_notify('stoflow_session_ended', old.id::text);
  return null;
end
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_tenant_tables__require_active_tenant()
 RETURNS trigger
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_tenants__copy_tier_limits()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
  select t.max_products, t.max_platforms, t.ai_credits_monthly
    into new.max_products, new.max_platforms, new.ai_credits_monthly
    from public.tiers t where t.id = new.subscription_tier;
  return new;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_tenants__revoke_credentials()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
begin
  perform app_private.revoke_dependent_credentials(array(select u.id from public.users u where u.tenant_id = new.id), 'tenant deactivated');
  return null;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_users__drop_invitations()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
begin
  delete from public.invitations where lower(email) = lower(new.email);
  return null;
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_users__protect_admins()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_users__require_reauthentication()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  was_admin boolean := case when tg_op = 'INSERT' then false else old.role = 'admin' and old.is_active end;
  is_admin boolean := case when tg_op = 'DELETE' then false else new.role = 'admin' and new.is_active end;
  granted boolean := tg_op <> 'DELETE' and new.role = 'admin' and (tg_op = 'INSERT' or old.role <> 'admin');
begin
  -- The users of a tenant being deleted go with it (deleting it asked for the password already).
  if (was_admin <> is_admin or granted) and (tg_op <> 'DELETE' or exists (select 1 from public.tenants t where t.id = old.tenant_id)) then
    perform app_private.require_reauthentication(case when is_admin or granted then 'Granting the admin role' else 'Removing an admin' end);
  end if;
  return coalesce(new, old);
end;
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_users__revoke_credentials()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.tg_vinted_products__status_rules()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.throttle_key(scope text, subject text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$ select scope || ':' || lower(subject) $function$
;

CREATE OR REPLACE FUNCTION app_private.trial_days()
 RETURNS integer
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$ select coalesce(nullif(current_setting('stoflow.trial_days', true), '')::int, 14) $function$
;

CREATE OR REPLACE FUNCTION app_private.upgrades_are_immediate()
 RETURNS boolean
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$ select current_setting('stoflow.billing', true) is not distinct from 'immediate' $function$
;

CREATE OR REPLACE FUNCTION app_private.usage_month()
 RETURNS date
 LANGUAGE sql
 STABLE PARALLEL SAFE
AS $function$ select date_trunc('month', now() at time zone 'UTC')::date $function$
;

CREATE OR REPLACE FUNCTION app_private.use_user_token(token_hash bytea, purpose text, OUT outcome text, OUT user_id integer, OUT email text, OUT invitation_id integer, OUT email_change_id bigint)
 RETURNS record
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.user_token_outcome(token app_private.user_tokens, purpose text)
 RETURNS text
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION app_private.verify_email(token_hash bytea)
 RETURNS text
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  used record;
begin
  select * into used from app_private.use_user_token(token_hash, 'verify_email');
  if used.outcome = 'ok' then
    update public.users u set email_verified_at = coalesce(u.email_verified_at, now()) where u.id = used.user_id;
  end if;
  return used.outcome;
end;
$function$
;

CREATE OR REPLACE FUNCTION public.change_subscription_tier(new_tier text)
 RETURNS subscriptions
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  t public.tenants;
  target public.tiers;
  current public.subscriptions;
  used record;
  terms_status text;
  terms_trial timestamptz;
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
  current := app_private.current_period(t.id);
  if target.rank > (select rank from public.tiers where id = t.subscription_tier) then
    select * into terms_status, terms_trial from app_private.self_service_terms(t.id, target);
    if terms_status is null then
      raise exception 'The % tier needs a payment: ask for a checkout page (createCheckoutSession)', target.id using errcode = 'SFPAY';
    end if;
    return app_private.switch_period(t.id, target.id, terms_status, 'expired', now(), terms_trial);
  end if;
  select * into used from app_private.tenant_usage(t);
  if used.active_products > target.max_products then
    raise exception 'Cannot move to the % tier: it allows % active products and % are active; archive some first',
      target.id, target.max_products, used.active_products using errcode = 'SFLIM';
  elsif cardinality(used.platforms) > target.max_platforms then
    raise exception 'Cannot move to the % tier: it allows % platforms and % are in use',
      target.id, target.max_platforms, cardinality(used.platforms) using errcode = 'SFLIM';
  end if;
  -- A downgrade to another paid tier keeps the period's billing state (trial, payment, grace): it grants nothing new.
  opened := app_private.switch_period(t.id, target.id, case when target.price_monthly = 0 then 'active' else current.status::text end,
                                      'expired', now(), case when target.price_monthly > 0 then current.trial_ends_at end);
  if target.price_monthly > 0 then
    update public.subscriptions s set trial_reminded_at = current.trial_reminded_at, grace_ends_at = current.grace_ends_at,
           cancels_at = current.cancels_at, payment_method = current.payment_method,
           last_payment_date = current.last_payment_date, next_billing_date = current.next_billing_date
     where s.id = opened.id returning * into opened;
  end if;
  return opened;
end;
$function$
;

CREATE OR REPLACE FUNCTION public.current_subscription_period()
 RETURNS subscriptions
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$ select * from public.subscriptions s where s.tenant_id = app_private.current_tenant_id() and s.end_date is null $function$
;

CREATE OR REPLACE FUNCTION public.current_tenant_usage()
 RETURNS tenant_usage
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  t public.tenants;
  used record;
begin
  select * into t from public.tenants where id = app_private.current_tenant_id();
  if not found then
    return null;
  end if;
  select * into used from app_private.tenant_usage(t);
  return (t.subscription_tier, used.active_products, t.max_products, cardinality(used.platforms), t.max_platforms,
          used.ai_credits_used, t.ai_credits_monthly, greatest(t.ai_credits_monthly - used.ai_credits_used, 0))::public.tenant_usage;
end;
$function$
;

CREATE OR REPLACE FUNCTION public.delete_tenant(confirm_name text)
 RETURNS boolean
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
 SET lock_timeout TO '100ms'
AS $function$
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
$function$
;

CREATE OR REPLACE FUNCTION public.export_tenant_data()
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
declare
  t public.tenants;
  tenant_rows jsonb := '{}';
  table_name text;
  rows jsonb;
  max_bytes bigint := current_setting('stoflow.export_max_bytes', true)::bigint;
begin
  if max_bytes is null then
    raise exception 'stoflow.export_max_bytes is not set: the server sets it for every export (0: no bound)';
  end if;
  select * into t from public.tenants where id = app_private.current_tenant_id();
  begin
    if max_bytes > 0 then
      perform app_private.assert_export_fits(t.schema_name, max_bytes);
    end if;
    for table_name in select app_private.tenant_tables() loop
      execute format('select coalesce(jsonb_agg(to_jsonb(x)), ''[]'') from %I.%I x', t.schema_name, table_name) into rows;
      tenant_rows := tenant_rows || jsonb_build_object(table_name, rows);
    end loop;
  exception
    when program_limit_exceeded then
      raise exception 'This tenant''s data is too large to export in one document' using errcode = 'SFBIG';
    when query_canceled then
      raise exception 'This tenant''s data could not be exported within the time limit (%)', current_setting('statement_timeout')
        using errcode = 'SFBIG';
  end;
  return jsonb_build_object(
    'exported_at', now(),
    'tenant', to_jsonb(t),
    'users', (select coalesce(jsonb_agg(to_jsonb(u) order by u.id), '[]') from public.users u where u.tenant_id = t.id),
    'subscriptions', (select coalesce(jsonb_agg(to_jsonb(s) order by s.id), '[]') from public.subscriptions s where s.tenant_id = t.id)
  ) || tenant_rows;
end;
$function$
;

-- Privileges

grant execute on function app_private.accept_invitation(bytea,text) to stoflow_auth;

grant execute on function app_private.apply_billing_event(text,text,timestamp with time zone,jsonb,interval) to stoflow_billing;

grant execute on function app_private.begin_login(text,text,integer,integer,integer,integer) to stoflow_auth;

grant execute on function app_private.begin_password_change(integer,integer,integer) to stoflow_auth;

grant execute on function app_private.begin_registration(text,text,integer,integer,integer) to stoflow_auth;

grant execute on function app_private.cancel_email_change(bytea) to stoflow_auth;

grant execute on function app_private.check_user_token(bytea,text,text,integer,integer) to stoflow_auth;

grant execute on function app_private.confirm_email_change(bytea) to stoflow_auth;

grant execute on function app_private.confirm_password(integer,uuid,integer,interval) to stoflow_auth;

grant execute on function app_private.constraint_message(text,text,text) to stoflow_authenticator;

grant execute on function app_private.constraint_messages() to stoflow_authenticator;

grant execute on function app_private.current_tenant_id() to stoflow_anonymous;

grant execute on function app_private.current_tenant_id() to stoflow_auth;

grant execute on function app_private.current_tenant_id() to stoflow_platform_operator;

grant execute on function app_private.current_tenant_schema() to stoflow_anonymous;

grant execute on function app_private.current_tenant_schema() to stoflow_auth;

grant execute on function app_private.current_user_id() to stoflow_anonymous;

grant execute on function app_private.enter_tenant_schema() to stoflow_anonymous;

grant execute on function app_private.enter_tenant_schema() to stoflow_auth;

grant execute on function app_private.finish_login(integer,integer,text,text,bytea,interval,integer) to stoflow_auth;

grant execute on function app_private.invite(text,text,user_role,interval,integer,integer,integer) to stoflow_admin;

grant execute on function app_private.is_email_address(text) to stoflow_anonymous;

grant execute on function app_private.is_email_address(text) to stoflow_auth;

grant execute on function app_private.issue_account_token(text,text,bytea,interval,timestamp with time zone) to stoflow_worker;

grant execute on function app_private.issue_email_change_token(bigint,text,bytea) to stoflow_worker;

grant execute on function app_private.issue_invitation_token(integer,bytea,integer,integer,boolean) to stoflow_worker;

grant execute on function app_private.live_listen(text,integer[]) to stoflow_authenticator;

grant execute on function app_private.login_candidate(text) to stoflow_auth;

grant execute on function app_private.open_session(integer,integer,bytea,interval) to stoflow_auth;

grant execute on function app_private.open_transaction(json,boolean) to stoflow_authenticator;

grant execute on function app_private.pending_invitations() to stoflow_admin;

grant execute on function app_private.publish_live_changes(integer) to stoflow_authenticator;

grant execute on function app_private.queue_account_email(text,text,integer) to stoflow_auth;

grant execute on function app_private.record_checkout_session(text,text) to stoflow_admin;

grant execute on function app_private.register_tenant(text,text,text,text) to stoflow_auth;

grant execute on function app_private.request_account_email(text,text,text,integer,integer,integer) to stoflow_auth;

grant execute on function app_private.request_email_change(text,uuid,integer,interval,text,integer,integer,integer) to stoflow_auth;

grant execute on function app_private.require_live_session() to stoflow_anonymous;

grant execute on function app_private.require_live_session() to stoflow_auth;

grant execute on function app_private.require_live_session() to stoflow_authenticator;

grant execute on function app_private.require_live_session(integer,integer,text,uuid) to stoflow_authenticator;

grant execute on function app_private.require_tenant_available() to stoflow_anonymous;

grant execute on function app_private.require_tenant_available() to stoflow_auth;

grant execute on function app_private.require_tenant_available() to stoflow_authenticator;

grant execute on function app_private.resend_invitation(integer,interval,integer,integer,integer) to stoflow_admin;

grant execute on function app_private.reset_password(bytea,text) to stoflow_auth;

grant execute on function app_private.revoke_invitation(integer) to stoflow_admin;

grant execute on function app_private.revoke_session(uuid,text) to stoflow_auth;

grant execute on function app_private.rotate_refresh_token(bytea,bytea,interval) to stoflow_auth;

grant execute on function app_private.run_billing_clock(timestamp with time zone,interval) to stoflow_worker;

grant execute on function app_private.server_status() to stoflow_authenticator;

grant execute on function app_private.session_user_and_tenant(integer) to stoflow_auth;

grant execute on function app_private.set_password(integer,text,uuid,integer) to stoflow_auth;

grant execute on function app_private.tenant_id_of_schema(text) to stoflow_authenticator;

grant execute on function app_private.verify_email(bytea) to stoflow_auth;

grant execute on function change_subscription_tier(text) to stoflow_admin;

grant execute on function current_subscription_period() to stoflow_admin;

grant execute on function current_tenant_usage() to stoflow_viewer;

grant execute on function delete_tenant(text) to stoflow_admin;

grant execute on function export_tenant_data() to stoflow_admin;

grant select on table public.invitations to stoflow_viewer;

grant delete, insert, select, update on table public.platform_mappings to stoflow_platform_operator;

grant select on table public.platform_mappings to stoflow_viewer;

grant select on table public.subscriptions to stoflow_viewer;

grant select on table public.tenants to stoflow_viewer;

grant select on table public.tiers to stoflow_anonymous;

grant select on table public.tiers to stoflow_auth;

grant delete on table public.users to stoflow_admin;

grant update (is_active) on table public.users to stoflow_admin;

grant update (role) on table public.users to stoflow_admin;

grant select on table public.users to stoflow_viewer;

grant update (full_name) on table public.users to stoflow_viewer;

grant update (phone) on table public.users to stoflow_viewer;

grant select on table public.vinted_status_transitions to stoflow_anonymous;

grant insert (cache_key) on table tenant_template.ai_generations_log to stoflow_user;

grant insert (cost) on table tenant_template.ai_generations_log to stoflow_user;

grant insert (generated_text) on table tenant_template.ai_generations_log to stoflow_user;

grant insert (generation_time_ms) on table tenant_template.ai_generations_log to stoflow_user;

grant insert (model) on table tenant_template.ai_generations_log to stoflow_user;

grant insert (platform) on table tenant_template.ai_generations_log to stoflow_user;

grant insert (prompt_template) on table tenant_template.ai_generations_log to stoflow_user;

grant insert (sku) on table tenant_template.ai_generations_log to stoflow_user;

grant insert (tokens_used) on table tenant_template.ai_generations_log to stoflow_user;

grant insert (was_cached) on table tenant_template.ai_generations_log to stoflow_user;

grant select on table tenant_template.ai_generations_log to stoflow_viewer;

grant delete on table tenant_template.products to stoflow_user;

grant insert, update (brand) on table tenant_template.products to stoflow_user;

grant insert, update (category) on table tenant_template.products to stoflow_user;

grant insert, update (color) on table tenant_template.products to stoflow_user;

grant insert, update (condition) on table tenant_template.products to stoflow_user;

grant insert, update (cost_price) on table tenant_template.products to stoflow_user;

grant insert, update (description) on table tenant_template.products to stoflow_user;

grant insert, update (image_url_1) on table tenant_template.products to stoflow_user;

grant insert, update (image_url_2) on table tenant_template.products to stoflow_user;

grant insert, update (image_url_3) on table tenant_template.products to stoflow_user;

grant insert, update (image_url_4) on table tenant_template.products to stoflow_user;

grant insert, update (image_url_5) on table tenant_template.products to stoflow_user;

grant insert, update (is_active) on table tenant_template.products to stoflow_user;

grant insert, update (material) on table tenant_template.products to stoflow_user;

grant insert, update (price) on table tenant_template.products to stoflow_user;

grant insert, update (size) on table tenant_template.products to stoflow_user;

grant insert, update (sku) on table tenant_template.products to stoflow_user;

grant insert, update (stock_quantity) on table tenant_template.products to stoflow_user;

grant insert, update (title) on table tenant_template.products to stoflow_user;

grant select on table tenant_template.products to stoflow_viewer;

grant insert (action) on table tenant_template.publications_history to stoflow_user;

grant insert, update (completed_at) on table tenant_template.publications_history to stoflow_user;

grant insert, update (error_code) on table tenant_template.publications_history to stoflow_user;

grant insert, update (error_message) on table tenant_template.publications_history to stoflow_user;

grant insert (job_id) on table tenant_template.publications_history to stoflow_user;

grant insert (platform) on table tenant_template.publications_history to stoflow_user;

grant insert (sku) on table tenant_template.publications_history to stoflow_user;

grant insert (started_at) on table tenant_template.publications_history to stoflow_user;

grant insert, update (status) on table tenant_template.publications_history to stoflow_user;

grant select on table tenant_template.publications_history to stoflow_viewer;

grant delete on table tenant_template.vinted_products to stoflow_user;

grant insert, update (favorites_count) on table tenant_template.vinted_products to stoflow_user;

grant insert, update (id_vinted) on table tenant_template.vinted_products to stoflow_user;

grant insert, update (last_error) on table tenant_template.vinted_products to stoflow_user;

grant insert, update (last_synced_at) on table tenant_template.vinted_products to stoflow_user;

grant insert, update (price_vinted) on table tenant_template.vinted_products to stoflow_user;

grant insert, update (published_at) on table tenant_template.vinted_products to stoflow_user;

grant insert (sku) on table tenant_template.vinted_products to stoflow_user;

grant insert, update (status) on table tenant_template.vinted_products to stoflow_user;

grant insert, update (url_vinted) on table tenant_template.vinted_products to stoflow_user;

grant insert, update (views_count) on table tenant_template.vinted_products to stoflow_user;

grant select on table tenant_template.vinted_products to stoflow_viewer;

-- Comments

comment on schema app_private is 'Secrets, tenant DDL steps and privileged functions; never exposed by the API.';

comment on function app_private.accept_invitation(bytea,text) is 'The invitee accepts an invitation with its token, once: the user is created in the invitation''s tenant with its role, this first password and the address verified. Returns ok with the user and the credential version to open a session with, or invalid, used, expired.';

comment on function app_private.account_may_act(users,tenants) is 'Whether a user may act: the user and their tenant are both active. Opening a session, the per-request session check and refreshing tokens all ask this.';

comment on function app_private.add_team_member(integer,text,text,user_role,text) is 'An operator adds a user to a tenant with a password hash made in Node (npm run stoflow -- users:add; the tests'' helper): no API role may call it. Returns the user''s id.';

comment on function app_private.add_tenant_ddl_step(text,text) is 'Appends a tenant DDL step (for migrations) and applies it to tenant_template at once (a failure names the step and the schema); tenant schemas catch up in batches afterwards (npm run migrate), or at once under `npm run db -- watch`. Idempotent for the same name and SQL. A step not yet committed (added by current.sql after the last committed migration) may change: its new SQL, which must be re-runnable, is run again on the template and on every schema that has it; a committed step never changes.';

comment on function app_private.address_hash(text) is 'How login_known_addresses keeps a client address: sha256 of its lower-cased text.';

comment on table app_private.ai_credit_usage is 'Usage ledger: AI generations not served from cache, per tenant and calendar month (UTC), kept when the products and their AI log are deleted. The AI credit limit reads this count.';

comment on column app_private.ai_credit_usage.credits_used is 'Credits used in that month.';

comment on column app_private.ai_credit_usage.month is 'First day of the calendar month (UTC).';

comment on column app_private.ai_credit_usage.tenant_id is 'The tenant.';

comment on function app_private.apply_billing_event(text,text,timestamp with time zone,jsonb,interval) is 'Applies one signed Stripe event (checkout.session.completed, invoice.paid, invoice.payment_failed, customer.subscription.deleted), the only writer of paid status besides the operator''s set_tenant_tier: once per event id (a duplicate returns duplicate), ignoring events older than the last applied for the tenant, and finding the tenant only through our Checkout Session (whose client_reference_id must be that tenant) and the customer and subscription ids stored from it. An invoice.paid that comes before its Checkout Session completes waits, and is applied with it. A failed payment gives `grace` before suspension, and a cancellation ends the paid tier at the end of what was paid, whichever paid tier the tenant is on (a downgrade keeps the subscription); a free tier or a trial of another tier is left alone. Returns what it did.';

comment on function app_private.apply_tenant_ddl(text) is 'Applies to one tenant schema every DDL step it does not have yet, in order; returns how many. Locks that schema''s row so two runs never apply a step twice.';

comment on function app_private.apply_tenant_ddl_step(text,integer) is 'Runs one tenant DDL step on one schema and records that the schema has it (also used to re-run an edited, uncommitted step).';

comment on function app_private.apply_tenant_ddl_step_named(text,integer) is 'Runs one tenant DDL step on one schema (app_private.apply_tenant_ddl_step); a failure is raised again with the step, the tenant and the schema named, and PostgreSQL''s code kept.';

comment on function app_private.assert_export_fits(text,bigint) is 'Refuses (SQLSTATE SFBIG) when the rows of a tenant schema''s tables, as JSON text, exceed max_bytes; stops reading at the bound.';

comment on function app_private.assert_tenant_available(integer) is 'Returns tenant_id when its schema has every tenant DDL step of the template (the GraphQL schema is built from the template); raises SFMNT (503 TENANT_MAINTENANCE) while it lags, so its requests never meet a half-migrated schema.';

comment on table app_private.attempt_counters is 'Attempts per throttled key in its current window (logins, password changes, registrations). Rows whose window ended are deleted as new attempts come.';

comment on column app_private.attempt_counters.attempts is 'Attempts reserved in the current window (refused attempts are not counted).';

comment on column app_private.attempt_counters.key is '<scope>:<subject> from app_private.throttle_key, e.g. login-email:lou@example.com or registration-address:203.0.113.9.';

comment on column app_private.attempt_counters.window_ends_at is 'When the current window ends; the next attempt after it starts a new window.';

comment on function app_private.begin_login(text,text,integer,integer,integer,integer) is 'First step of a login, before bcrypt: reserves an attempt under the e-mail''s failure counter (login_failure_key: the address''s own when it signed in to the account within known_for_days, else the e-mail''s shared one; max_failures_per_email each) and under the client address (max_attempts_per_address) in the window, then returns the candidate (no user for an unknown e-mail). retry_after > 0: refused, nothing counted. Every attempt counts as a failure until finish_login proves it was not one.';

comment on function app_private.begin_password_change(integer,integer,integer) is 'First step of a password change, before bcrypt checks the current password: reserves an attempt for the user (max_failures per window, so a stolen access token is not an unlimited password oracle) and returns the hash and credential version to check. retry_after > 0: refused.';

comment on function app_private.begin_registration(text,text,integer,integer,integer) is 'Before bcrypt, reserves a registration for the client address and for the e-mail in the window (each creates a schema, so every attempt counts, successful or not). Returns 0 when reserved, else the seconds to wait.';

comment on table app_private.billing_accounts is 'A tenant''s Stripe customer and subscription, stored from the completed Checkout Session we created: later events find their tenant only through these ids (never metadata or e-mail).';

comment on column app_private.billing_accounts.last_event_at is 'Creation time of the last event applied for this tenant: older events arrive out of order and are ignored.';

comment on column app_private.billing_accounts.stripe_customer_id is 'Stripe''s customer id (cus_…).';

comment on column app_private.billing_accounts.stripe_subscription_id is 'Stripe''s subscription id (sub_…); NULL once it was deleted.';

comment on column app_private.billing_accounts.tenant_id is 'The tenant.';

comment on column app_private.billing_accounts.tier is 'The tier the Stripe subscription pays for.';

comment on table app_private.billing_events is 'Every signed billing event received, once per event id (a duplicate is answered without being applied again), with what it did.';

comment on column app_private.billing_events.created is 'When Stripe created the event.';

comment on column app_private.billing_events.id is 'Stripe''s event id (evt_…).';

comment on column app_private.billing_events.outcome is 'applied, or why it was ignored.';

comment on column app_private.billing_events.paid_until is 'An invoice''s period end: what invoice.paid pays until (the next billing date).';

comment on column app_private.billing_events.received_at is 'When it was received.';

comment on column app_private.billing_events.stripe_customer_id is 'An invoice''s customer (cus_…).';

comment on column app_private.billing_events.stripe_subscription_id is 'An invoice''s subscription (sub_…).';

comment on column app_private.billing_events.tenant_id is 'The tenant it was applied to, if any.';

comment on column app_private.billing_events.type is 'The event type (invoice.paid…).';

comment on function app_private.billing_paid(integer,text,timestamp with time zone,timestamp with time zone) is 'A confirmed payment (called by app_private.apply_billing_event only): the tenant is on the paid tier, active, its grace or suspension lifted.';

comment on function app_private.cancel_email_change(bytea) is '"This was not me", with the token of the message to the old address: the change is cancelled and, as a credential event, every session of the user ends. Returns ok, invalid (also for a token sent to the new address), used or expired.';

comment on function app_private.catch_up_tenants_in_development() is 'With stoflow.catch_up_tenants = on (set by `npm run db -- watch`), brings every tenant schema to the last tenant DDL step in the current transaction; the first failure is raised with the step, tenant and schema named. Otherwise nothing: production tenants catch up in batches (npm run migrate).';

comment on function app_private.check_user_token(bytea,text,text,integer,integer) is 'First step of every use of an e-mailed token, before any bcrypt: reserves an attempt of the client address (seconds to wait, else 0), then says what the token can do without using it.';

comment on table app_private.checkout_sessions is 'The Stripe Checkout Sessions this server created, each for one tenant and tier: a completed session is credited only to the tenant it was made for, which must also be its client_reference_id.';

comment on column app_private.checkout_sessions.created_at is 'When it was created.';

comment on column app_private.checkout_sessions.id is 'Stripe''s id of the Checkout Session (cs_…).';

comment on column app_private.checkout_sessions.tenant_id is 'The tenant whose admin asked for it.';

comment on column app_private.checkout_sessions.tier is 'The tier it pays for.';

comment on function app_private.commented_constraints(oid[],text) is 'The messages written beside the constraints of these tables (or of one constraint of theirs) (comment on constraint, or on a unique index): the comment''s text, or its `@message` line (foreign keys: only that line, their comment being the relation''s description); the field is a `@field` line or the constraint''s first column.';

comment on function app_private.confirm_email_change(bytea) is 'One of the two confirmations of a change of address (its token says which address it went to): once both are in, the address changes (verified by that), which is a credential event. outcome ok, invalid, used or expired; changed says whether the address changed now (23505 when an account took it meanwhile).';

comment on function app_private.confirm_password(integer,uuid,integer,interval) is 'The signed-in user confirmed their password (checked in Node under checked_version): the session may make sensitive changes until now() + ttl (sudo mode), which it returns; the user''s password-change failures are cleared. Null when the password or the session changed meanwhile (nothing changed).';

comment on function app_private.constraint_message(text,text,text) is 'The GraphQL field and the client''s message for one refusal: the table and constraint PostgreSQL named (the table without its schema), or the column of a not-null violation. Read by the server for each refusal, so a message added by a migration applies without a restart.';

comment on table app_private.constraint_messages is 'What a client is told when a write breaks a constraint, for constraints whose message is not written beside them (comment on constraint … is ''message'', which wins): the GraphQL input field at fault and a sentence a seller''s app can show. The constraint name stays in the server log. A test fails while a constraint has neither.';

comment on column app_private.constraint_messages.constraint_name is 'The constraint (or unique index) name PostgreSQL reports.';

comment on column app_private.constraint_messages.field is 'The GraphQL input field a client sent, as spelled in the schema (camelCase).';

comment on column app_private.constraint_messages.message is 'The sentence the client gets, in words a seller understands.';

comment on column app_private.constraint_messages.table_name is 'The table, without its schema (tenant tables: as in tenant_template, same in every client_<id>).';

comment on function app_private.constraint_messages() is 'The field and message of every constraint of the API''s tables (and of every not-null column): written beside the constraint (app_private.commented_constraints), else a row of app_private.constraint_messages. The server reads one at a time (app_private.constraint_message).';

comment on function app_private.count_in_tenant(text,text) is 'Runs a counting query with {schema} replaced by a tenant schema.';

comment on function app_private.current_period(integer) is 'The tenant''s current (open) subscription period.';

comment on function app_private.current_tenant_id() is 'The tenant of the current request, from the jwt.claims.tenant_id setting; NULL when anonymous.';

comment on function app_private.current_tenant_schema() is 'The schema (client_<id>) of the current request''s tenant; NULL when anonymous. Tenant-table policies compare it with their own schema.';

comment on function app_private.current_user_id() is 'The user of the current request, from the jwt.claims.user_id setting; NULL when anonymous.';

comment on table app_private.email_changes is 'A change of sign-in address asked for with the password: it takes effect once both the old and the new address confirmed it. One per user; readable by no API role.';

comment on column app_private.email_changes.expires_at is 'After this its links answer TOKEN_EXPIRED (CHANGE_EMAIL_TOKEN_TTL).';

comment on column app_private.email_changes.id is 'Identifier of the change; the tokens of its two messages reference it.';

comment on column app_private.email_changes.new_confirmed_at is 'When the new address confirmed.';

comment on column app_private.email_changes.new_email is 'The address it moves to.';

comment on column app_private.email_changes.old_confirmed_at is 'When the old address confirmed.';

comment on column app_private.email_changes.old_email is 'The address it moves from, where the second confirmation (and the "this was not me" link) goes.';

comment on column app_private.email_changes.requested_at is 'When it was asked for.';

comment on column app_private.email_changes.user_id is 'The user whose address changes.';

comment on function app_private.enter_tenant_schema() is 'Sets the transaction''s search_path to the tenant schema of its claims, then public (public alone without a tenant); returns it. Unqualified table names then reach that tenant''s tables.';

comment on function app_private.finish_login(integer,integer,text,text,bytea,interval,integer) is 'Last step of a login whose password bcrypt accepted: opens the session (see open_session), records last_login, gives the attempt back under its failure counter and its address, and (known_for_days > 0) records the address as known to the account, forgetting the account''s addresses that are too old or proved an older credential. NULL when no session could open (the attempt stays counted as a failure).';

comment on function app_private.forget_expired_tokens() is 'Deletes a few e-mailed tokens and invitations expired more than a day ago (called as messages are issued), so neither table grows without bound.';

comment on function app_private.graphql_field_name(text) is 'A column name as PostGraphile spells its GraphQL field (cost_price → costPrice): the field a not-null refusal names.';

comment on function app_private.invitation_may_be_accepted(integer) is 'Whether an invitation can be accepted now: pending and unexpired, its address not an account''s, its inviter still an active admin of an active tenant.';

comment on function app_private.invite(text,text,user_role,interval,integer,integer,integer) is 'The signed-in admin invites an address into their tenant (again: the pending invitation is renewed): throttled per admin and per tenant (retry_after > 0: refused), then the invitation and its message are queued, the same whether or not the address has an account.';

comment on function app_private.is_email_address(text) is 'Whether a text is a bare e-mail address, local@domain (the WHATWG pattern of <input type=email>, the domain with a dot): no display name, comment or route. The check of tenants.email, users.email and invitations.email.';

comment on function app_private.issue_account_token(text,text,bytea,interval,timestamp with time zone) is 'The job worker, as it sends a verify_email or reset_password message asked for at requested_at: stores the hash of the token it carries and returns the address, the person''s own name (null when it is the shop''s) and the shop; no row when no account fits (unknown, inactive, already verified, created or whose credentials changed after it was asked for).';

comment on function app_private.issue_email_change_token(bigint,text,bytea) is 'The job worker, as it sends one of the two confirmations of a change of address (side old or new): stores the hash of its token and returns the address, the person''s own name and the new address; no row when the change is gone or expired, or (side new) another account has the new address.';

comment on function app_private.issue_invitation_token(integer,bytea,integer,integer,boolean) is 'The job worker, as it sends an invitation: stores the hash of its token and returns what to write; no row (nothing sent) when it cannot be accepted (an address with an account gets nothing) or when its tenant sent this address max_per_recipient invitations in the window (counted at a job''s first attempt only).';

comment on type app_private.jwt_claims is 'The claim set of an access token: user (sub), tenant and role.';

comment on function app_private.lagging_tenant_schemas() is 'Every tenant schema behind tenant_template: its version, the steps it lacks, and the last failure recorded for it (for tenants:check, tenants:migrate --dry-run).';

comment on function app_private.live_listen(text,integer[]) is 'A gateway''s whole set of tenants with subscriptions, told when a tenant joins the set and renewed every 30 s: replaces its rows, renews them, and deletes every expired row (gateways gone).';

comment on table app_private.live_listeners is 'The tenants each gateway process has live subscriptions for (app_private.live_listen), read by app_private.tg__notify_live: a row change of a tenant with no row here, or only expired ones, is not notified. Unlogged: after a crash the gateways register again within a renewal.';

comment on column app_private.live_listeners.gateway is 'The gateway process (host, pid and a random suffix), as it names itself.';

comment on column app_private.live_listeners.renewed_at is 'When the gateway last said it still listens; older than two minutes: expired (the gateway is gone), ignored and deleted.';

comment on column app_private.live_listeners.tenant_id is 'A tenant with at least one subscription on that gateway.';

comment on table app_private.live_outbox is 'Row changes of the tenant tables sellers wait for, appended by app_private.tg__notify_live and moved to NOTIFY stoflow_live by app_private.publish_live_changes (only for tenants some gateway listens for; the rest are dropped). Unlogged: a crash empties it, and every gateway then sends RESYNC (its LISTEN connection was lost). It grows only while no gateway publishes.';

comment on column app_private.live_outbox.id is 'Queue order: a later change of the same row always has a larger id (the row lock orders the writers).';

comment on column app_private.live_outbox.key is 'The row''s key (sku or id), as text. Keys only, never row data.';

comment on column app_private.live_outbox.kind is 'What changed: product, vinted_product, publication or ai_generation (the trigger''s first argument).';

comment on column app_private.live_outbox.op is 'INSERT, UPDATE or DELETE.';

comment on column app_private.live_outbox.tenant_id is 'The tenant whose table changed (from the schema''s name).';

comment on function app_private.locked_tenant(text) is 'The tenant owning a schema, row-locked until the transaction ends: limit checks of one tenant run one at a time, so racing inserts cannot overshoot a limit.';

comment on function app_private.login_address_known(text,text,integer) is 'True when the client address signed in to the account of this e-mail within known_for_days, with its current credential.';

comment on function app_private.login_candidate(text) is 'The user, password hash and credential version for a login e-mail, so Node can check the password with bcrypt and open the session with the credential it checked.';

comment on function app_private.login_failure_key(text,text,integer) is 'The counter of wrong passwords a sign-in attempt falls under: its own (login-known-address:<email> <address>) for an address known to the account, else the e-mail''s shared one (login-email:<email>).';

comment on table app_private.login_known_addresses is 'Client addresses that signed in to an account, with the credential they proved: begin_login counts their wrong passwords apart from the e-mail''s shared counter, so guesses from elsewhere cannot lock the owner out. Written by finish_login only.';

comment on column app_private.login_known_addresses.address_hash is 'sha256 of the lower-cased client address (the address itself is not kept).';

comment on column app_private.login_known_addresses.credential_version is 'The credential version the sign-in proved: after a password change or any credential event, the address is known no more.';

comment on column app_private.login_known_addresses.signed_in_at is 'The latest successful sign-in from the address; older than the caller''s known_for_days, it is known no more.';

comment on column app_private.login_known_addresses.user_id is 'The account signed in to.';

comment on function app_private.migrate_tenant_schema(text) is 'Brings one tenant schema up to the last DDL step, each step in a subtransaction: at the first step that fails, the schema keeps the steps before it, the failure is recorded in tenant_migration_failures and returned as one line (step, PostgreSQL''s message and code); NULL when the schema is current.';

comment on function app_private.open_session(integer,integer,bytea,interval) is 'Starts a session with its first refresh token, bound to the credential version the password was checked against; NULL (no session) when the user or tenant is inactive or the password changed since. A session committed just before such a change is dead on arrival: session_role compares versions.';

comment on function app_private.open_transaction(json,boolean) is 'Opens the current transaction for a request, right after BEGIN: applies the settings ([[name, value], …]: the role, the claims, the bounds) local to the transaction, in order; then, when the claims name a session, checks it (require_live_session, raising SFSES), or only the tenant''s maintenance (require_tenant_available, raising SFMNT) when the server knows the session to be live (session_known_live, see src/auth/session-liveness.ts); then, when they name a tenant, puts its schema first on the search_path (enter_tenant_schema). Security invoker, and without a SET clause of its own, which would undo the role and search_path it sets when it returns: the checks run as the role the settings switched to.';

comment on function app_private.pending_invitations() is 'The signed-in admin''s tenant''s pending (unexpired) invitations, oldest first, in the JSON shape of the REST API.';

comment on function app_private.pending_tenant_schemas(integer,timestamp with time zone,integer) is 'Up to max_rows schemas that miss at least one tenant DDL step, template first, leaving out those that failed since failed_since (this run); only_tenant: that tenant''s schema alone.';

comment on table app_private.platform_usage is 'Usage ledger: every platform a tenant has published to (or tried to), kept when the products and their history are deleted. The platform limit counts these rows.';

comment on column app_private.platform_usage.first_used_at is 'When the tenant first published to it.';

comment on column app_private.platform_usage.platform is 'The platform (vinted, ebay, …).';

comment on column app_private.platform_usage.tenant_id is 'The tenant.';

comment on function app_private.publish_live_changes(integer) is 'Takes up to max_changes queued row changes (app_private.live_outbox, oldest first) and, for the tenants some gateway listens for (app_private.live_listeners), NOTIFYs them on stoflow_live ({t, k, op, id}) in this one transaction; returns how many it took (0 when another gateway is publishing). Called by every gateway every LIVE_PUBLISH_MS.';

comment on function app_private.queue_account_email(text,text,integer) is 'Queues a verify_email or reset_password message for an address (in the caller''s transaction: no mail for a rolled-back change), with the time it was asked for and a priority (0 first, up to 9; invitations come after). Whether an account fits is decided when it is sent: queuing takes the same work either way.';

comment on function app_private.queue_billing_email(text,subscriptions) is 'Queues a billing message (trial_ending, trial_ended) about a period to each active admin of its tenant.';

comment on function app_private.queue_invitation_email(invitations) is 'Queues an invitation''s message behind account mail (priority 10, plus the tenant''s invitations already sent in the window), in its tenant''s own named queue (one at a time per tenant); the links of its earlier messages stop working.';

comment on function app_private.record_checkout_session(text,text) is 'Records a Stripe Checkout Session the signed-in admin asked for, against the admin''s own tenant: its completion pays for that tier of that tenant only.';

comment on type app_private.refresh_result is 'Outcome of a refresh (ok, invalid, expired, reused, inactive) and, when ok, the new claims.';

comment on table app_private.refresh_tokens is 'Opaque refresh tokens, stored as SHA-256 hashes. Each is used once; using a used one again revokes its session.';

comment on column app_private.refresh_tokens.created_at is 'When it was issued.';

comment on column app_private.refresh_tokens.expires_at is 'When it stops being accepted.';

comment on column app_private.refresh_tokens.session_id is 'The session (token family) it belongs to.';

comment on column app_private.refresh_tokens.token_hash is 'SHA-256 of the token (the token itself is never stored).';

comment on column app_private.refresh_tokens.used_at is 'When it was exchanged for a new one; NULL while unused.';

comment on function app_private.register_tenant(text,text,text,text) is 'Creates a tenant, its schema client_<id> with every tenant table, its admin user and first subscription, in one transaction; returns the admin''s claims. A paid tier starts as a trial (app_private.self_service_terms); with no trial open to it, the tenant starts on starter. Any failure leaves nothing behind. The password arrives already hashed (bcrypt, in Node).';

comment on function app_private.request_account_email(text,text,text,integer,integer,integer) is 'Anonymous request of a verify_email (resend) or reset_password message for an address: throttled per address and per client (seconds to wait, else 0); queues the message with the same work whether or not an account fits, behind the earlier requests of the same client in the window (priority).';

comment on function app_private.request_email_change(text,uuid,integer,interval,text,integer,integer,integer) is 'The signed-in user, whose password was just checked (under checked_version), asks to move to a new address: throttled like every mail request (retry_after > 0); accepted false when the password or the session changed meanwhile. Replaces any pending change and queues a confirmation to each address, the same work whether or not an account has the new one.';

comment on function app_private.require_live_session() is 'The session check of the current transaction: reads jwt.claims.session_id, user_id, tenant_id and role (set with BEGIN, in the same round trip) and raises SFSES when that session may not act now; does nothing without a session id (anonymous).';

comment on function app_private.require_live_session(integer,integer,text,uuid) is 'Raises SFSES unless the session may act now with this tenant and role: the session exists for this user, is not revoked, holds the user''s current credential version (a password change or deactivation raises it), the user and tenant are active, and the token''s tenant and role are still the user''s; raises SFMNT (503 TENANT_MAINTENANCE) while the tenant''s schema lags behind the template. The one place the per-request check lives.';

comment on function app_private.require_reauthentication(text) is 'Refuses (SQLSTATE SFRAU, REAUTHENTICATION_REQUIRED) unless the request''s session confirmed the password within REAUTHENTICATION_TTL (sudo mode); SFSES (INVALID_TOKEN) when the session ended meanwhile. action names what was refused. Operators, who act without a session, pass.';

comment on function app_private.require_tenant_available() is 'The opening check of a transaction whose session the gateway knows to be live (it verified it with app_private.require_live_session() and has heard no revocation of it since, see src/auth/session-liveness.ts): raises SFMNT (503 TENANT_MAINTENANCE) while the tenant of the claims lags behind the template; does nothing without a tenant.';

comment on function app_private.resend_invitation(integer,interval,integer,integer,integer) is 'The signed-in admin sends a pending invitation of their tenant again (P0002 for any other): it now hangs on their credentials and expires ttl from now; throttled as an invitation (seconds to wait, else 0).';

comment on function app_private.reserve_attempts(text[],integer[],integer) is 'Reserves one attempt under every key (keys[i] allows max_attempts[i] per window of window_seconds), atomically: returns 0 when reserved, else the seconds until the latest blocking window ends (and counts nothing). Cleans a few expired counters on the way.';

comment on function app_private.reserve_invitation(integer,integer,integer) is 'Reserves one invitation message (made or resent) of the signed-in admin and of their tenant in the window; 0 when reserved, else the seconds to wait.';

comment on function app_private.reset_password(bytea,text) is 'Sets the password (bcrypt hash made in Node) with a reset_password token, once: a credential event (every session and every other link of the user ends, see app_private.revoke_dependent_credentials), verifies the address, clears its failed logins; returns ok, invalid, used or expired.';

comment on function app_private.revoke_dependent_credentials(integer[],text,uuid) is 'The one rule of the account lifecycle, called by every credential event (password changed or reset, address changed, user deactivated, deleted or lowered in role, tenant deactivated or deleted, a change of address refused): raises the users'' credential version, so that their sessions, refresh tokens and e-mailed links die, and records when (mail asked for before is not sent); marks the sessions revoked with the event, ending their sudo mode; drops their pending change of address and the invitations they issued. keep_session (the session that changed the password) lives on.';

comment on function app_private.revoke_invitation(integer) is 'The signed-in admin revokes a pending invitation of their tenant (P0002 for any other): its link stops working.';

comment on function app_private.revoke_session(uuid,text) is 'Ends a session: its access and refresh tokens are refused from now on.';

comment on function app_private.role_rank(user_role) is 'How much a role may do: viewer 1, user 2, admin 3 (a lower rank is a credential event).';

comment on function app_private.rotate_refresh_token(bytea,bytea,interval) is 'Exchanges an unused refresh token for a new one in the same session. A token used twice revokes its whole session (theft detection); a session revoked or opened with an outdated credential refreshes nothing.';

comment on function app_private.run_billing_clock(timestamp with time zone,interval) is 'The billing clock at `at`: mails the admins of trials ending within `reminder` (once), ends trials without a payment (back to starter, nothing deleted: the limit triggers then refuse new items; the admins are mailed), suspends tenants whose grace period after a failed payment is over, and moves cancelled subscriptions to starter at their period''s end. Returns how many periods it changed.';

comment on function app_private.self_service_terms(integer,tiers) is 'What a tenant gets when it asks for a tier by itself (registration, changeSubscriptionTier upwards): a free tier, or any tier when upgrades are immediate, active; a paid tier on trial (trialing for TRIAL_DAYS) when the tenant is not on a paid tier already (active, past_due or suspended: a trial ending would drop what it pays for) and has never had a trial of that tier; otherwise nothing (status NULL): it must pay.';

comment on function app_private.sender_share(text) is 'How many attempts a throttle key counts in its current window (1 when none): the rank of a sender''s latest message, which its job''s priority follows so that a heavy sender''s mail waits behind lighter senders''.';

comment on function app_private.server_status() is 'Applied migrations, tenant schemas missing a DDL step (and the first 20 of their tenant ids), and the number of tenants: for the readiness check and metrics.';

comment on function app_private.session_holds(uuid,integer,integer) is 'Whether a session of the user is live and was opened under the credential version its password check read (a sensitive change made by it is still its own to make).';

comment on function app_private.session_user_and_tenant(integer) is 'The user and tenant of a session (what the auth routes and currentSession answer), in the JSON shape of the REST API.';

comment on table app_private.sessions is 'One row per sign-in. Access tokens name their session (sid); a revoked session refuses them at once.';

comment on column app_private.sessions.created_at is 'When the user signed in.';

comment on column app_private.sessions.credential_version is 'The credential version of the user when the password was checked for this session; the session is live only while it is the current one.';

comment on column app_private.sessions.id is 'Session id, the sid claim of its access tokens.';

comment on column app_private.sessions.last_refreshed_at is 'When a refresh token of the session was last used.';

comment on column app_private.sessions.reauthenticated_until is 'Until when the session may make sensitive changes (sudo mode): set by confirming the password (REAUTHENTICATION_TTL); null when it never did, and again after a credential event.';

comment on column app_private.sessions.revoked_at is 'When the session was ended (logout, password change, reuse of a refresh token).';

comment on column app_private.sessions.revoked_reason is 'Why the session was ended.';

comment on column app_private.sessions.user_id is 'The signed-in user.';

comment on function app_private.set_password(integer,text,uuid,integer) is 'Stores a new password hash (made in Node) if the password checked (checked_version) is still the current one and the session is live: a credential event (app_private.revoke_dependent_credentials) that keeps this session; clears the user''s password-change failures. False when it lost a race: nothing changed.';

comment on function app_private.set_tenant_tier(integer,text) is 'The operator''s tenants:set-tier: the tenant is on tier, active, at once (what it pays is settled outside Stripe), a billing suspension lifted. Nothing is deleted when it goes down.';

comment on function app_private.switch_period(integer,text,text,text,timestamp with time zone,timestamp with time zone) is 'Closes the tenant''s current period (as closed_as) and opens one on tier with status; the tenant''s tier and limits follow. Nothing is deleted: usage above the new tier''s limits stays, and the limit triggers refuse new items.';

comment on table app_private.tenant_ddl_steps is 'Ordered DDL steps that build a tenant schema; {schema} in sql is the schema being built.';

comment on column app_private.tenant_ddl_steps.created_at is 'When the step was added.';

comment on column app_private.tenant_ddl_steps.name is 'Unique name of the step.';

comment on column app_private.tenant_ddl_steps.sql is 'The DDL, with {schema} for the schema name.';

comment on column app_private.tenant_ddl_steps.version is 'Position of the step; a schema at version N has every step up to N.';

comment on function app_private.tenant_fingerprints(text[]) is 'One fingerprint per given schema, equal for two schemas with the same tables, columns, defaults, constraints, indexes, triggers (and their state), policies and grants: the count and the sum of a 64-bit hash of each catalog row, read raw (no deparsing), in one pass for all schemas. The schema''s own objects are named, not numbered (a column''s type, a foreign key''s table), and its own name in a policy becomes {schema}. Chosen over fingerprints stored when a step applies and kept fresh by an event trigger: creating an event trigger needs a superuser, which the owner role is not, and a fingerprint computed now also sees changes made by hand while nothing watched. Runs with work_mem = 64MB (one call at a time, from tenants:check): with the default 4 MB its hash joins spilled to disk in 4 to 32 batches past 10,000 tenants. Measured on 2 cores, quiet, one database grown to each size: 0.32 ms per tenant at 10,000 and 0.39 at 25,000 with 4 MB; at 50,000, 24.5 to 29.3 s with 4 MB, 18.0 s with 64 MB and 17.5 s with 128 MB. A plan spread over parallel workers was tried and left: as fast as 64 MB in one process, at twice the CPU, since each catalog''s branch must scan pg_class again. Two different structures get the same fingerprint only if the hashes of their rows add up to the same sum: odds of about one in 10^19 for a drifted schema. An expression naming another object of the schema (nextval of its own sequence, a subquery on its own table) would hold that object''s number: every tenant would then differ from the template and be compared line by line, slower, never wrong.';

comment on function app_private.tenant_id_of_schema(text) is 'The tenant id of a client_<id> schema; NULL for any other schema.';

comment on table app_private.tenant_migration_failures is 'The last tenant DDL step that failed for a schema (kept until the schema migrates), so operators see which tenant lags and why.';

comment on column app_private.tenant_migration_failures.failed_at is 'When the step failed (the start of its transaction).';

comment on column app_private.tenant_migration_failures.message is 'PostgreSQL''s error message.';

comment on column app_private.tenant_migration_failures.schema_name is 'The schema the step failed on.';

comment on column app_private.tenant_migration_failures.sqlstate is 'PostgreSQL''s error code.';

comment on column app_private.tenant_migration_failures.step_name is 'Name of the step that failed.';

comment on column app_private.tenant_migration_failures.step_version is 'Version of the step that failed.';

comment on table app_private.tenant_schemas is 'Every schema built from the tenant DDL steps, with the last step it has.';

comment on column app_private.tenant_schemas.migrated_at is 'When a step was last applied.';

comment on column app_private.tenant_schemas.schema_name is 'tenant_template or client_<tenant id>.';

comment on column app_private.tenant_schemas.tenant_id is 'The tenant owning the schema; NULL for the template.';

comment on column app_private.tenant_schemas.version is 'The last DDL step applied to this schema.';

comment on function app_private.tenant_signatures(text[]) is 'One line per table, column, constraint, index, trigger, policy and grant of each given schema, with the schema''s name replaced by {schema}; reads the catalog once for all of them.';

comment on function app_private.tenant_step_failure(text,integer,text,text) is 'How a failed tenant DDL step is told: its version and name, the tenant and schema (or tenant_template), PostgreSQL''s message and code.';

comment on function app_private.tenant_structure_differences(text[]) is 'Every difference between the given tenant schemas and tenant_template, line by line (tenant_signatures, tenant_trigger_states): missing or unexpected objects, step version.';

comment on function app_private.tenant_structure_drift() is 'Every difference between a tenant schema and tenant_template (missing or unexpected objects, step version), every tenant compared line by line: 2.3 ms per tenant (tenants:check --full). No row means every tenant has exactly the template''s structure.';

comment on function app_private.tenant_structure_drift_fast() is 'The rows of tenant_structure_drift(), found faster: every schema''s fingerprint (tenant_fingerprints) is compared with the template''s, and only the tenants whose fingerprint or step version differs are compared line by line (tenants:check). About 0.3 ms per tenant when nothing drifted; a tenant that differs costs what it costs in the full check.';

comment on function app_private.tenant_tables() is 'The tables every tenant schema holds, as tenant_template holds them (read from the catalog), those that reference another first: what an export writes out and a deletion locks.';

comment on function app_private.tenant_trigger_states(text[]) is 'One line per trigger of the given schemas that is not simply enabled (ALTER TABLE … DISABLE TRIGGER, ENABLE REPLICA or ALWAYS TRIGGER), which tenant_signatures does not show: pg_get_triggerdef leaves the state out.';

comment on function app_private.tenant_usage(tenants) is 'A tenant''s usage of its limits, the one source the limit triggers, current_tenant_usage and change_subscription_tier read: active products (live), platforms used and AI credits used this month (from the usage ledger). Limit checks call it after locking the tenant, in a new statement.';

comment on function app_private.tg__notify_live() is 'Trigger on the tenant tables sellers wait for (after each row): appends {tenant id from the schema name, the kind (argument 1), INSERT/UPDATE/DELETE, the row''s key (argument 2: the column sku or id)} to app_private.live_outbox, which app_private.publish_live_changes notifies on stoflow_live. Keys only, never row data: the gateway re-reads the row under the subscriber''s role. No query and no NOTIFY of the writer''s own: whether anyone listens is asked once per batch by the publisher. Security definer: writers can neither read nor write the outbox themselves.';

comment on function app_private.tg__set_updated_at() is 'Trigger: keeps updated_at at the time of the last change.';

comment on function app_private.tg_ai_generations_log__enforce_ai_credits() is 'Trigger: refuses an AI generation not served from cache beyond the month''s credits, and counts it in the usage ledger (app_private.ai_credit_usage).';

comment on function app_private.tg_invitations__require_reauthentication() is 'Trigger on invitations: an invitation with the admin role is made, renewed or resent only in sudo mode (app_private.require_reauthentication).';

comment on function app_private.tg_products__enforce_product_limit() is 'Trigger: refuses a new active product beyond the tenant''s max_products.';

comment on function app_private.tg_publications_history__enforce_platform_limit() is 'Trigger: refuses publishing to a new platform beyond the tenant''s max_platforms, and records the platform in the usage ledger (app_private.platform_usage).';

comment on function app_private.tg_publications_history__status_rules() is 'Trigger: an attempt goes from pending to success or error once; completed_at and duration_seconds are derived then.';

comment on function app_private.tg_sessions__notify_ended() is 'Trigger on sessions: a session revoked (every credential event goes through app_private.revoke_dependent_credentials, which marks them) or deleted is announced on stoflow_session_ended, so that every gateway closes its subscription sockets at once.';

comment on function app_private.tg_tenant_tables__require_active_tenant() is 'Statement trigger: a suspended or cancelled tenant reads its data but cannot change it.';

comment on function app_private.tg_tenants__copy_tier_limits() is 'Trigger: a tenant''s limits follow its tier when it is created or changes tier.';

comment on function app_private.tg_tenants__revoke_credentials() is 'Trigger on tenants: deactivating a tenant is a credential event of every one of its users (deleting it deletes them, each an event of its own).';

comment on function app_private.tg_users__drop_invitations() is 'Trigger on users: an address that becomes an account''s (registration, a member added, a change of address, an invitation accepted) is invited no more.';

comment on function app_private.tg_users__protect_admins() is 'Trigger: nobody changes their own role, and through the API every tenant keeps at least one active admin.';

comment on function app_private.tg_users__require_reauthentication() is 'Trigger on users: granting the admin role (raised, to an active or inactive user, or added with it), making an admin active again, or ending an admin (demoted, deactivated, deleted) needs sudo mode (app_private.require_reauthentication).';

comment on function app_private.tg_users__revoke_credentials() is 'Trigger on users: deactivating, deleting, lowering the role or changing the address of a user is a credential event (app_private.revoke_dependent_credentials).';

comment on function app_private.tg_vinted_products__status_rules() is 'Trigger: Vinted status changes follow vinted_status_transitions; entering error needs last_error and counts in error_count; publishing sets published_at.';

comment on function app_private.throttle_key(text,text) is 'The counter key of a throttled subject: lower-cased, so that every case variant of an e-mail shares one counter (the same lower() that finds the account).';

comment on function app_private.trial_days() is 'Days of a trial of a paid tier (TRIAL_DAYS, sent by the gateway as stoflow.trial_days; 14 when unset; 0: no trial).';

comment on function app_private.upgrades_are_immediate() is 'True only when the gateway says so (BILLING=none in development: stoflow.billing = immediate): a paid tier is then active at once. Unset: never.';

comment on function app_private.usage_month() is 'The calendar month (UTC) AI credits are counted in now, as its first day.';

comment on function app_private.use_user_token(bytea,text) is 'Uses an e-mailed token once (ok, with what it is bound to: user, address, invitation, change of address; else what app_private.user_token_outcome says); called by the security definer function of each flow.';

comment on table app_private.user_secrets is 'Password hashes (bcrypt, made in Node). Readable by no API role.';

comment on column app_private.user_secrets.credential_changed_at is 'When the last credential event happened (app_private.revoke_dependent_credentials); a message asked for before it is not sent. Null: none since this column exists.';

comment on column app_private.user_secrets.credential_version is 'Raised when the password changes or the user (or tenant) is deactivated: sessions opened with an older version are dead for good.';

comment on column app_private.user_secrets.password_changed_at is 'When the password was last set.';

comment on column app_private.user_secrets.password_hash is 'bcrypt hash of the password.';

comment on column app_private.user_secrets.user_id is 'The user this secret belongs to.';

comment on function app_private.user_token_outcome(app_private.user_tokens,text) is 'What a token (a null row: none) can do for this purpose: ok, or invalid (unknown, another purpose, account inactive, a credential event since, address changed; an invitation revoked, accepted or whose inviter may no longer invite), used, expired.';

comment on table app_private.user_tokens is 'Tokens sent by e-mail (SHA-256 of 32 random bytes; the token itself is never stored). Readable by no API role.';

comment on column app_private.user_tokens.created_at is 'When the token was minted (and its message sent).';

comment on column app_private.user_tokens.credential_version is 'The user''s credential version when the token was minted: any credential event raises it, and the token is then TOKEN_INVALID.';

comment on column app_private.user_tokens.email is 'The address the token was sent to (for change_email, the old or the new address of the change).';

comment on column app_private.user_tokens.email_change_id is 'The change of address a change_email token confirms (or, sent to the old address, cancels).';

comment on column app_private.user_tokens.expires_at is 'After this the token answers TOKEN_EXPIRED.';

comment on column app_private.user_tokens.invitation_id is 'The invitation an invitation token accepts; null once the invitation was accepted, revoked or dropped.';

comment on column app_private.user_tokens.purpose is 'What the token may do: verify_email, reset_password, invitation or change_email; it does nothing else.';

comment on column app_private.user_tokens.token_hash is 'SHA-256 of the token the message carried.';

comment on column app_private.user_tokens.used_at is 'When the token was used: single use, a second use answers TOKEN_USED.';

comment on column app_private.user_tokens.user_id is 'The user the token acts for (none for an invitation: the user is created when it is accepted).';

comment on function app_private.verify_email(bytea) is 'Verifies the address a verify_email token was sent to; returns ok, invalid, used or expired.';

comment on function change_subscription_tier(text) is '@arg new_tier The tier to move to: starter, standard, premium, business or enterprise
Moves the signed-in admin''s tenant to another tier: the current period ends (expired), a new one opens, the limits follow at once. A downgrade below current usage is refused (LIMIT_REACHED): nothing is deleted behind the seller''s back; a downgrade keeps the billing state of the period. An upgrade to a paid tier starts its trial (trialing, once per tier); without a trial open to it, it is refused with PAYMENT_REQUIRED: pay through createCheckoutSession. Never makes a paid tier active (except BILLING=none in development).';

comment on function current_subscription_period() is 'The signed-in admin''s current subscription period: tier, status (trialing, active, past_due, suspended), trialEndsAt, graceEndsAt, cancelsAt, nextBillingDate.';

comment on function current_tenant_usage() is 'Usage of the signed-in tenant against its limits: active products, platforms ever published to, AI credits used and remaining this month (UTC). Deleting products does not lower the platforms or credits used.';

comment on function delete_tenant(text) is '@arg confirm_name The tenant''s name, exactly: it confirms the deletion
Deletes the signed-in admin''s tenant in one transaction: its schema and every row, its users, sessions, subscriptions and usage. confirm_name must be the tenant''s name, and the session must have confirmed the password lately (REAUTHENTICATION_REQUIRED otherwise). It waits for the tenant''s writers without ever deadlocking them; after about five seconds of constant traffic it gives up with CONFLICT (retry).';

comment on function export_tenant_data() is 'Everything of the signed-in admin''s tenant as one JSON document: tenant, users (no passwords), subscriptions and every tenant table. Refused (EXPORT_TOO_LARGE) beyond the server''s EXPORT_MAX_BYTES or its export time limit.';

comment on schema public is 'standard public schema';

comment on table public.invitations is '@behavior -insert -update -delete
A pending invitation into a tenant: the invitee becomes a user when they accept it (inviteTeamMember, resendInvitation, revokeInvitation). Admins see their tenant''s pending ones; it ends when accepted, revoked, expired, when its address registers, and with any credential event of its inviter.';

comment on column public.invitations.created_at is 'When the invitation was made.';

comment on column public.invitations.email is 'The address invited: the invitation goes there, and the invitee signs in with it.';

comment on column public.invitations.expires_at is 'After this it cannot be accepted (INVITATION_TTL after it was sent or resent).';

comment on column public.invitations.full_name is 'The invitee''s name, as the inviter gave it.';

comment on column public.invitations.id is 'Identifier of the invitation.';

comment on column public.invitations.invited_by is 'The admin who sent (or last resent) it; their credential events revoke it. Null for an invitation made before invitations were rows: resend it to send a link.';

comment on column public.invitations.role is 'What the invitee may do once they accept.';

comment on column public.invitations.tenant_id is 'The tenant the invitee joins.';

comment on table public.platform_mappings is 'How our standard values map to each platform''s (e.g. brand Nike to Vinted brand id 53).';

comment on column public.platform_mappings.created_at is 'When the mapping was created.';

comment on column public.platform_mappings.id is 'Identifier of the mapping.';

comment on column public.platform_mappings.mapping_type is 'brand, category, color, size, condition or material.';

comment on column public.platform_mappings.notes is 'Free notes.';

comment on column public.platform_mappings.our_value is 'Our standardised value.';

comment on column public.platform_mappings.platform is 'vinted, ebay, etsy, etc.';

comment on column public.platform_mappings.platform_id is 'The platform''s id for the value, when it has one.';

comment on column public.platform_mappings.platform_value is 'The value on the platform.';

comment on column public.platform_mappings.updated_at is 'When the mapping was last changed.';

comment on column public.platform_mappings.usage_count is 'How often the mapping was used (statistics).';

comment on type public.publication_action is '@value create List the product on the platform
@value update Change the product''s listing on the platform
@value delete Take the product''s listing off the platform
What a publication attempt did on a platform.';

comment on type public.publication_status is '@value pending Started, no outcome yet
@value success Done on the platform
@value error Failed on the platform (see errorCode and errorMessage)
Outcome of a publication attempt.';

comment on type public.subscription_status is '@value active The period in force (paid, or a free tier)
@value suspended Paused: the tenant reads but does not write (a payment failed and its grace period ended)
@value cancelled Ended by the tenant, by staff or by the billing side
@value expired Ended by a change of tier, by its end date, or by the end of a trial
@value trialing A paid tier on trial until trialEndsAt; without a payment by then, the tenant falls back to starter
@value past_due A payment failed: the tier stays until graceEndsAt, then the tenant is suspended
State of one subscription period.';

comment on table public.subscriptions is '@name subscription_period
History of a tenant''s subscriptions; the row with no end date is the current one.';

comment on column public.subscriptions.cancels_at is 'The billing side cancelled the subscription: the tier is kept until then, then the tenant falls back to starter.';

comment on column public.subscriptions.created_at is 'When the row was created.';

comment on column public.subscriptions.currency is 'ISO 4217 currency code.';

comment on column public.subscriptions.end_date is 'When this period ended; NULL for the current subscription.';

comment on column public.subscriptions.grace_ends_at is 'After a failed payment (past_due): when the tenant is suspended unless a payment arrives.';

comment on column public.subscriptions.id is 'Identifier of the subscription period.';

comment on column public.subscriptions.last_payment_date is 'When the last payment was received.';

comment on column public.subscriptions.next_billing_date is 'When the next payment is due.';

comment on column public.subscriptions.payment_method is 'stripe, paypal, etc.';

comment on column public.subscriptions.price_monthly is 'Monthly price in the currency below, at subscription time.';

comment on column public.subscriptions.start_date is 'When this period started.';

comment on column public.subscriptions.status is 'trialing, active, past_due, suspended, cancelled or expired.';

comment on column public.subscriptions.tenant_id is 'The subscribing tenant.';

comment on column public.subscriptions.tier is 'The tier subscribed to.';

comment on column public.subscriptions.trial_ends_at is 'When the trial of this period ends (trialing); without a payment by then the tenant falls back to starter. Set on every trial period, so a tenant gets one trial per paid tier.';

comment on column public.subscriptions.trial_reminded_at is 'When the admins were mailed that the trial ends soon (once).';

comment on column public.subscriptions.updated_at is 'When the row was last changed.';

comment on type public.tenant_status is '@value active Reads and writes
@value suspended Reads only, until reactivated
@value cancelled Reads only: the subscription has ended
State of a tenant''s subscription as a whole.';

comment on type public.tenant_usage is 'What the current tenant uses of its tier''s limits (NULL limit = unlimited).';

comment on column public.tenant_usage.active_products is 'Active products now (inactive ones do not count).';

comment on column public.tenant_usage.ai_credits_monthly is 'AI generations the tier allows each month; null: unlimited.';

comment on column public.tenant_usage.ai_credits_remaining is 'AI generations left this month; null: unlimited.';

comment on column public.tenant_usage.ai_credits_used is 'AI generations not served from cache this calendar month (UTC).';

comment on column public.tenant_usage.max_platforms is 'Distinct platforms the tier allows; null: unlimited.';

comment on column public.tenant_usage.max_products is 'Active products the tier allows; null: unlimited.';

comment on column public.tenant_usage.platforms_used is 'Distinct platforms ever published to (deleting products does not lower it).';

comment on column public.tenant_usage.tier is 'The tier the tenant subscribes to.';

comment on table public.tenants is 'A customer of Stoflow (a company or a person). Each tenant has its own schema client_<id>.';

comment on column public.tenants.ai_credits_monthly is 'AI credits per calendar month; copied from the tier.';

comment on column public.tenants.created_at is 'When the tenant registered.';

comment on column public.tenants.email is 'Main contact e-mail, unique case-insensitively.';

comment on column public.tenants.id is 'Identifier of the tenant; its schema is client_<id>.';

comment on column public.tenants.is_active is 'False when the tenant is deactivated: its users are refused.';

comment on column public.tenants.max_platforms is 'Most distinct platforms; copied from the tier, NULL = unlimited.';

comment on column public.tenants.max_products is 'Most active products; copied from the tier, NULL = unlimited.';

comment on column public.tenants.name is 'Name of the customer.';

comment on column public.tenants.schema_name is 'The PostgreSQL schema that holds this tenant''s tables.';

comment on column public.tenants.subscription_status is 'active, suspended or cancelled.';

comment on column public.tenants.subscription_tier is 'Current tier; the limits below follow it.';

comment on column public.tenants.updated_at is 'When the tenant was last changed.';

comment on table public.tiers is 'Subscription plans and the limits they grant. A NULL limit means unlimited.';

comment on column public.tiers.ai_credits_monthly is 'AI generations (not served from cache) a tenant may log per calendar month.';

comment on column public.tiers.id is 'Stable code of the tier (starter, standard, premium, business, enterprise).';

comment on column public.tiers.max_platforms is 'Most distinct platforms a tenant may publish to; NULL = unlimited.';

comment on column public.tiers.max_products is 'Most active products a tenant may hold; NULL = unlimited.';

comment on column public.tiers.name is 'Display name of the tier.';

comment on column public.tiers.price_monthly is 'Monthly price in euros.';

comment on column public.tiers.rank is 'Order of the tiers, cheapest first.';

comment on type public.user_role is '@value admin Manages users and the subscription, and writes products
@value user Writes products and listings
@value viewer Reads only
What a user may do in their tenant: admin (manage users and subscription), user (write products), viewer (read).';

comment on table public.users is '@behavior -insert
A person who signs in to Stoflow. Each user belongs to one tenant. Admins invite users (inviteTeamMember); operators add them (npm run stoflow -- users:add).';

comment on column public.users.created_at is 'When the user was created.';

comment on column public.users.email is 'Login e-mail, unique case-insensitively across all tenants.';

comment on column public.users.email_verified_at is 'When the user proved they read mail at this address (a link of a verification, reset or invitation message); null until then.';

comment on column public.users.full_name is 'Name shown in the application.';

comment on column public.users.id is 'Identifier of the user.';

comment on column public.users.is_active is 'False when the user is deactivated: they are refused.';

comment on column public.users.is_verified is 'True once the e-mail address is verified (email_verified_at is set).';

comment on column public.users.last_login is 'When the user last signed in.';

comment on column public.users.phone is 'Phone number, free form.';

comment on column public.users.role is 'admin, user or viewer.';

comment on column public.users.tenant_id is 'The tenant this user belongs to.';

comment on column public.users.updated_at is 'When the user was last changed.';

comment on type public.vinted_status is '@value draft Prepared, not yet listed on Vinted
@value published Listed on Vinted, for sale
@value sold Sold on Vinted (final)
@value deleted Taken off Vinted (final)
@value error The last sync with Vinted failed (see lastError); it can be retried
Life cycle of a product''s listing on Vinted.';

comment on table public.vinted_status_transitions is 'The status changes a Vinted listing may make; any other is refused.';

comment on column public.vinted_status_transitions.from_status is 'Status before the change.';

comment on column public.vinted_status_transitions.to_status is 'Status after the change.';

comment on schema tenant_template is 'The tenant tables, always empty: new tenants replay its DDL steps and the GraphQL schema is built from it.';

comment on table tenant_template.ai_generations_log is 'Every description generated by AI for a product.';

comment on constraint ai_generations_log_sku_fkey on tenant_template.ai_generations_log is '@foreignFieldName aiGenerationsLogs
The product this text describes.';

comment on column tenant_template.ai_generations_log.cache_key is 'Key of the cached result.';

comment on column tenant_template.ai_generations_log.cost is 'Cost in euros.';

comment on column tenant_template.ai_generations_log.created_at is 'When the text was generated.';

comment on column tenant_template.ai_generations_log.generated_text is 'The generated text.';

comment on column tenant_template.ai_generations_log.generation_time_ms is 'Generation time in milliseconds.';

comment on column tenant_template.ai_generations_log.id is 'Identifier of the generation.';

comment on column tenant_template.ai_generations_log.model is 'The model used (gpt-4-turbo, claude-3, etc.).';

comment on column tenant_template.ai_generations_log.platform is 'The platform the text is for.';

comment on column tenant_template.ai_generations_log.prompt_template is 'The prompt template used.';

comment on column tenant_template.ai_generations_log.sku is 'The product described.';

comment on column tenant_template.ai_generations_log.tokens_used is 'Tokens used.';

comment on column tenant_template.ai_generations_log.was_cached is 'True when the text came from the cache (it costs no credit).';

comment on table tenant_template.products is 'A product of the tenant, identified by its SKU.';

comment on column tenant_template.products.brand is 'Brand.';

comment on column tenant_template.products.category is 'Category.';

comment on column tenant_template.products.color is 'Colour.';

comment on column tenant_template.products.condition is 'Condition: new, very good, good, etc.';

comment on column tenant_template.products.cost_price is 'Purchase price or cost in euros.';

comment on column tenant_template.products.created_at is 'When the product was created.';

comment on column tenant_template.products.description is 'Description of the product.';

comment on column tenant_template.products.image_url_1 is 'First image URL.';

comment on column tenant_template.products.image_url_2 is 'Second image URL.';

comment on column tenant_template.products.image_url_3 is 'Third image URL.';

comment on column tenant_template.products.image_url_4 is 'Fourth image URL.';

comment on column tenant_template.products.image_url_5 is 'Fifth image URL.';

comment on column tenant_template.products.is_active is 'False when the product is archived; only active products count against the tier.';

comment on column tenant_template.products.material is 'Material.';

comment on column tenant_template.products.price is 'Selling price in euros.';

comment on column tenant_template.products.size is 'Size.';

comment on column tenant_template.products.sku is 'The tenant''s stock keeping unit, unique within the tenant.';

comment on column tenant_template.products.stock_quantity is 'Units in stock.';

comment on column tenant_template.products.title is 'Title of the product.';

comment on column tenant_template.products.updated_at is 'When the product was last changed.';

comment on table tenant_template.publications_history is 'Every attempt to publish, update or delete a product on a platform.';

comment on column tenant_template.publications_history.action is 'create, update or delete.';

comment on column tenant_template.publications_history.completed_at is 'When the attempt ended.';

comment on column tenant_template.publications_history.created_at is 'When the row was created.';

comment on column tenant_template.publications_history.duration_seconds is 'How long the attempt took.';

comment on column tenant_template.publications_history.error_code is 'The platform''s error code, on error.';

comment on column tenant_template.publications_history.error_message is 'The platform''s error message, on error.';

comment on column tenant_template.publications_history.id is 'Identifier of the attempt.';

comment on column tenant_template.publications_history.job_id is 'Id of the background job that ran the attempt.';

comment on column tenant_template.publications_history.platform is 'vinted, ebay, etsy, etc.';

comment on constraint publications_history_sku_fkey on tenant_template.publications_history is '@foreignFieldName publicationsHistories
The product this attempt concerns.';

comment on column tenant_template.publications_history.sku is 'The product concerned.';

comment on column tenant_template.publications_history.started_at is 'When the attempt started.';

comment on column tenant_template.publications_history.status is 'pending, success or error.';

comment on table tenant_template.vinted_products is 'What is specific to a product''s listing on Vinted.';

comment on column tenant_template.vinted_products.created_at is 'When the row was created.';

comment on column tenant_template.vinted_products.error_count is 'How many errors Vinted returned.';

comment on column tenant_template.vinted_products.favorites_count is 'Favourites on Vinted.';

comment on column tenant_template.vinted_products.id_vinted is 'The listing''s id on Vinted.';

comment on column tenant_template.vinted_products.last_error is 'The last error Vinted returned.';

comment on column tenant_template.vinted_products.last_synced_at is 'When the listing was last synchronised with Vinted.';

comment on column tenant_template.vinted_products.price_vinted is 'Price on Vinted, when it differs from the product''s.';

comment on column tenant_template.vinted_products.published_at is 'When the listing was published.';

comment on column tenant_template.vinted_products.sku is 'The product listed.';

comment on column tenant_template.vinted_products.status is 'draft, published, sold, deleted or error.';

comment on column tenant_template.vinted_products.updated_at is 'When the row was last changed.';

comment on column tenant_template.vinted_products.url_vinted is 'The listing''s URL on Vinted.';

comment on column tenant_template.vinted_products.views_count is 'Views on Vinted.';

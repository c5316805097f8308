--! Previous: sha1:75df2ee7134225dafb445e098556d916a2f01824
--! Hash: sha1:b9af3b5b8089cf0c024d563fc23c2bb468139570
--! Message: Billing boundary: paid tiers start as a trial, only signed billing events or the operator make them active

-- Issue 30: a billing boundary. Paid tiers start as a trial; only a signed billing event
-- (app_private.apply_billing_event) or the operator (app_private.set_tenant_tier) makes one active.
-- Idempotent while it is current.sql.

------------------------------------------------------------------------------------------------
-- States of a period. The new values are only used inside plpgsql bodies (run later, in other
-- transactions): PostgreSQL forbids using an enum value in the transaction that added it.
------------------------------------------------------------------------------------------------
alter type public.subscription_status add value if not exists 'trialing';
alter type public.subscription_status add value if not exists 'past_due';
comment on type public.subscription_status is E'@value active The period in force (paid, or a free tier)\n@value suspended Paused: the tenant reads but does not write (a payment failed and its grace period ended)\n@value cancelled Ended by the tenant, by staff or by the billing side\n@value expired Ended by a change of tier, by its end date, or by the end of a trial\n@value trialing A paid tier on trial until trialEndsAt; without a payment by then, the tenant falls back to starter\n@value past_due A payment failed: the tier stays until graceEndsAt, then the tenant is suspended\nState of one subscription period.';

alter table public.subscriptions add column if not exists trial_ends_at timestamptz;
alter table public.subscriptions add column if not exists trial_reminded_at timestamptz;
alter table public.subscriptions add column if not exists grace_ends_at timestamptz;
alter table public.subscriptions add column if not exists cancels_at timestamptz;
comment on column public.subscriptions.trial_ends_at is 'When the trial of this period ends (trialing); without a payment by then the tenant falls back to starter. Set on every trial period, so a tenant gets one trial per paid tier.';
comment on column public.subscriptions.trial_reminded_at is 'When the admins were mailed that the trial ends soon (once).';
comment on column public.subscriptions.grace_ends_at is 'After a failed payment (past_due): when the tenant is suspended unless a payment arrives.';
comment on column public.subscriptions.cancels_at is 'The billing side cancelled the subscription: the tier is kept until then, then the tenant falls back to starter.';
comment on column public.subscriptions.status is 'trialing, active, past_due, suspended, cancelled or expired.';

------------------------------------------------------------------------------------------------
-- What the billing side (Stripe) knows us by. Private: only SECURITY DEFINER functions touch it.
------------------------------------------------------------------------------------------------
create table if not exists app_private.checkout_sessions (
  id text primary key,
  tenant_id int not null references public.tenants on delete cascade,
  tier text not null references public.tiers on update cascade,
  created_at timestamptz not null default now()
);
create index if not exists checkout_sessions_tenant_id_idx on app_private.checkout_sessions (tenant_id);
alter table app_private.checkout_sessions enable row level security;
comment on table app_private.checkout_sessions is 'The Stripe Checkout Sessions this server created, each for one tenant and tier: a completed session is credited only to the tenant it was made for, which must also be its client_reference_id.';
comment on column app_private.checkout_sessions.id is 'Stripe''s id of the Checkout Session (cs_…).';
comment on column app_private.checkout_sessions.tenant_id is 'The tenant whose admin asked for it.';
comment on column app_private.checkout_sessions.tier is 'The tier it pays for.';
comment on column app_private.checkout_sessions.created_at is 'When it was created.';

create table if not exists app_private.billing_accounts (
  tenant_id int primary key references public.tenants on delete cascade,
  stripe_customer_id text unique,
  stripe_subscription_id text unique,
  tier text references public.tiers on update cascade,
  last_event_at timestamptz
);
alter table app_private.billing_accounts enable row level security;
comment on table app_private.billing_accounts is 'A tenant''s Stripe customer and subscription, stored from the completed Checkout Session we created: later events find their tenant only through these ids (never metadata or e-mail).';
comment on column app_private.billing_accounts.tenant_id is 'The tenant.';
comment on column app_private.billing_accounts.stripe_customer_id is 'Stripe''s customer id (cus_…).';
comment on column app_private.billing_accounts.stripe_subscription_id is 'Stripe''s subscription id (sub_…); NULL once it was deleted.';
comment on column app_private.billing_accounts.tier is 'The tier the Stripe subscription pays for.';
comment on column app_private.billing_accounts.last_event_at is 'Creation time of the last event applied for this tenant: older events arrive out of order and are ignored.';

create table if not exists app_private.billing_events (
  id text primary key,
  type text not null,
  created timestamptz not null,
  tenant_id int references public.tenants on delete set null,
  outcome text not null,
  received_at timestamptz not null default now()
);
alter table app_private.billing_events enable row level security;
comment on table app_private.billing_events is 'Every signed billing event received, once per event id (a duplicate is answered without being applied again), with what it did.';
comment on column app_private.billing_events.id is 'Stripe''s event id (evt_…).';
comment on column app_private.billing_events.type is 'The event type (invoice.paid…).';
comment on column app_private.billing_events.created is 'When Stripe created the event.';
comment on column app_private.billing_events.tenant_id is 'The tenant it was applied to, if any.';
comment on column app_private.billing_events.outcome is 'applied, or why it was ignored.';
comment on column app_private.billing_events.received_at is 'When it was received.';
alter table app_private.billing_events add column if not exists stripe_customer_id text;
alter table app_private.billing_events add column if not exists stripe_subscription_id text;
alter table app_private.billing_events add column if not exists paid_until timestamptz;
comment on column app_private.billing_events.stripe_customer_id is 'An invoice''s customer (cus_…).';
comment on column app_private.billing_events.stripe_subscription_id is 'An invoice''s subscription (sub_…).';
comment on column app_private.billing_events.paid_until is 'An invoice''s period end: what invoice.paid pays until (the next billing date).';
create index if not exists billing_events_waiting_idx on app_private.billing_events (stripe_subscription_id) where outcome like 'waiting%';

------------------------------------------------------------------------------------------------
-- Settings of the gateway, per transaction (BILLING, TRIAL_DAYS: src/config/billing.ts).
------------------------------------------------------------------------------------------------
create or replace function app_private.trial_days() returns int
  language sql stable parallel safe
  as $$ select coalesce(nullif(current_setting('stoflow.trial_days', true), '')::int, 14) $$;
comment on function app_private.trial_days() is
  'Days of a trial of a paid tier (TRIAL_DAYS, sent by the gateway as stoflow.trial_days; 14 when unset; 0: no trial).';

create or replace function app_private.upgrades_are_immediate() returns boolean
  language sql stable parallel safe
  as $$ select current_setting('stoflow.billing', true) is not distinct from 'immediate' $$;
comment on function app_private.upgrades_are_immediate() is
  'True only when the gateway says so (BILLING=none in development: stoflow.billing = immediate): a paid tier is then active at once. Unset: never.';

------------------------------------------------------------------------------------------------
-- Periods: the one place a tenant's current period is closed and the next one opened.
------------------------------------------------------------------------------------------------
create or replace function app_private.switch_period(
  tenant int, tier text, status text, closed_as text, at timestamptz, trial_ends timestamptz default null
) returns public.subscriptions
  language plpgsql volatile
  set search_path = pg_catalog, public, pg_temp
  as $$
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
$$;
comment on function app_private.switch_period(int, text, text, text, timestamptz, timestamptz) is
  'Closes the tenant''s current period (as closed_as) and opens one on tier with status; the tenant''s tier and limits follow. Nothing is deleted: usage above the new tier''s limits stays, and the limit triggers refuse new items.';

create or replace function app_private.current_period(tenant int) returns public.subscriptions
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$ select * from public.subscriptions s where s.tenant_id = tenant and s.end_date is null $$;
comment on function app_private.current_period(int) is 'The tenant''s current (open) subscription period.';

create or replace function app_private.self_service_terms(
  tenant int, target public.tiers, out status text, out trial_ends timestamptz
)
  language plpgsql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
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
$$;
comment on function app_private.self_service_terms(int, public.tiers) is
  'What a tenant gets when it asks for a tier by itself (registration, changeSubscriptionTier upwards): a free tier, or any tier when upgrades are immediate, active; a paid tier on trial (trialing for TRIAL_DAYS) when the tenant is not on a paid tier already (active, past_due or suspended: a trial ending would drop what it pays for) and has never had a trial of that tier; otherwise nothing (status NULL): it must pay.';

------------------------------------------------------------------------------------------------
-- Registration: a paid tier starts as a trial (or starter when no trial is open to it).
------------------------------------------------------------------------------------------------
create or replace function app_private.register_tenant(tenant_name text, email text, password_hash text, tier text default null)
  returns app_private.jwt_claims language plpgsql security definer
  set search_path to 'pg_catalog', 'public', 'pg_temp'
as $$
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
$$;
comment on function app_private.register_tenant(text, text, text, text) is
  'Creates a tenant, its schema client_<id> with every tenant table, its admin user and first subscription, in one transaction; returns the admin''s claims. A paid tier starts as a trial (app_private.self_service_terms); with no trial open to it, the tenant starts on starter. Any failure leaves nothing behind. The password arrives already hashed (bcrypt, in Node).';

------------------------------------------------------------------------------------------------
-- changeSubscriptionTier: downgrades self-service (limits permitting), upgrades as a trial.
------------------------------------------------------------------------------------------------
create or replace function public.change_subscription_tier(new_tier text) returns public.subscriptions
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
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
$$;
comment on function public.change_subscription_tier(text) is
  E'@arg new_tier The tier to move to: starter, standard, premium, business or enterprise\nMoves the signed-in admin''s tenant to another tier: the current period ends (expired), a new one opens, the limits follow at once. A downgrade below current usage is refused (LIMIT_REACHED): nothing is deleted behind the seller''s back; a downgrade keeps the billing state of the period. An upgrade to a paid tier starts its trial (trialing, once per tier); without a trial open to it, it is refused with PAYMENT_REQUIRED: pay through createCheckoutSession. Never makes a paid tier active (except BILLING=none in development).';

------------------------------------------------------------------------------------------------
-- The tenant's admin reads where its subscription stands.
------------------------------------------------------------------------------------------------
create or replace function public.current_subscription_period() returns public.subscriptions
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$ select * from public.subscriptions s where s.tenant_id = app_private.current_tenant_id() and s.end_date is null $$;
comment on function public.current_subscription_period() is
  'The signed-in admin''s current subscription period: tier, status (trialing, active, past_due, suspended), trialEndsAt, graceEndsAt, cancelsAt, nextBillingDate.';
revoke all on function public.current_subscription_period() from public;
grant execute on function public.current_subscription_period() to stoflow_admin;

------------------------------------------------------------------------------------------------
-- Checkout: the admin's request records the session it created, for its own tenant only.
------------------------------------------------------------------------------------------------
create or replace function app_private.record_checkout_session(session_id text, tier text) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
begin
  if app_private.current_tenant_id() is null then
    raise exception 'No tenant' using errcode = '42501';
  end if;
  insert into app_private.checkout_sessions (id, tenant_id, tier) values (session_id, app_private.current_tenant_id(), tier);
end;
$$;
comment on function app_private.record_checkout_session(text, text) is
  'Records a Stripe Checkout Session the signed-in admin asked for, against the admin''s own tenant: its completion pays for that tier of that tenant only.';
revoke all on function app_private.record_checkout_session(text, text) from public;
grant execute on function app_private.record_checkout_session(text, text) to stoflow_admin;

------------------------------------------------------------------------------------------------
-- Mail of the billing clock: one job per active admin, payload computed now.
------------------------------------------------------------------------------------------------
create or replace function app_private.queue_billing_email(kind text, period public.subscriptions) returns void
  language sql volatile
  set search_path = pg_catalog, public, pg_temp
  as $$
  select null from (
    select graphile_worker.add_job('billing_email',
             json_build_object('kind', kind, 'email', u.email, 'name', u.full_name, 'shop', t.name,
                               'tier', period.tier, 'trial_ends_at', period.trial_ends_at),
             job_key => kind || ':' || period.id || ':' || u.id)
      from public.users u join public.tenants t on t.id = u.tenant_id
     where u.tenant_id = period.tenant_id and u.role = 'admin' and u.is_active) queued
$$;
comment on function app_private.queue_billing_email(text, public.subscriptions) is
  'Queues a billing message (trial_ending, trial_ended) about a period to each active admin of its tenant.';

------------------------------------------------------------------------------------------------
-- The billing clock: trials, grace periods and cancellations that end at `at` (a parameter, so
-- tests set the clock in SQL). Run by the job worker's crontab (src/jobs/billing-clock.ts).
------------------------------------------------------------------------------------------------
create or replace function app_private.run_billing_clock(at timestamptz, reminder interval) returns int
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
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
$$;
comment on function app_private.run_billing_clock(timestamptz, interval) is
  'The billing clock at `at`: mails the admins of trials ending within `reminder` (once), ends trials without a payment (back to starter, nothing deleted: the limit triggers then refuse new items; the admins are mailed), suspends tenants whose grace period after a failed payment is over, and moves cancelled subscriptions to starter at their period''s end. Returns how many periods it changed.';
revoke all on function app_private.run_billing_clock(timestamptz, interval) from public;
grant execute on function app_private.run_billing_clock(timestamptz, interval) to stoflow_worker;

------------------------------------------------------------------------------------------------
-- Signed billing events: the only writer of paid status besides the operator's set_tenant_tier.
------------------------------------------------------------------------------------------------
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'stoflow_billing') then
    create role stoflow_billing nologin;
  end if;
end $$;
comment on role stoflow_billing is 'The billing webhook: applies signed billing events through app_private.apply_billing_event, and nothing else.';
grant stoflow_billing to stoflow_authenticator;
grant usage on schema app_private to stoflow_billing;

create or replace function app_private.apply_billing_event(
  event_id text, event_type text, created timestamptz, object jsonb, grace interval
) returns text
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
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
      if current.tier is distinct from account.tier then
        result := 'ignored: the tenant is not on the tier this subscription pays for';
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
$$;
comment on function app_private.apply_billing_event(text, text, timestamptz, jsonb, interval) is
  'Applies one signed Stripe event (checkout.session.completed, invoice.paid, invoice.payment_failed, customer.subscription.deleted), the only writer of paid status besides the operator''s set_tenant_tier: once per event id (a duplicate returns duplicate), ignoring events older than the last applied for the tenant, and finding the tenant only through our Checkout Session (whose client_reference_id must be that tenant) and the customer and subscription ids stored from it. An invoice.paid that comes before its Checkout Session completes waits, and is applied with it. A failed payment gives `grace` before suspension. Returns what it did.';
revoke all on function app_private.apply_billing_event(text, text, timestamptz, jsonb, interval) from public;
grant execute on function app_private.apply_billing_event(text, text, timestamptz, jsonb, interval) to stoflow_billing;

create or replace function app_private.billing_paid(tenant int, tier text, paid_at timestamptz, next_billing timestamptz) returns void
  language plpgsql volatile
  set search_path = pg_catalog, public, pg_temp
  as $$
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
$$;
comment on function app_private.billing_paid(int, text, timestamptz, timestamptz) is
  'A confirmed payment (called by app_private.apply_billing_event only): the tenant is on the paid tier, active, its grace or suspension lifted.';

------------------------------------------------------------------------------------------------
-- The operator's tenants:set-tier.
------------------------------------------------------------------------------------------------
create or replace function app_private.set_tenant_tier(tenant int, tier text) returns public.subscriptions
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
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
$$;
comment on function app_private.set_tenant_tier(int, text) is
  'The operator''s tenants:set-tier: the tenant is on tier, active, at once (what it pays is settled outside Stripe), a billing suspension lifted. Nothing is deleted when it goes down.';
revoke all on function app_private.set_tenant_tier(int, text) from public;

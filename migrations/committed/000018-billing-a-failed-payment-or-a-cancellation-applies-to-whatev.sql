--! Previous: sha1:b9af3b5b8089cf0c024d563fc23c2bb468139570
--! Hash: sha1:d55ce233f6b0526660c1154ade04dc18d4153a6b
--! Message: Billing: a failed payment or a cancellation applies to whatever paid tier the tenant is on

-- Enter migration here (idempotent while it is current.sql)

------------------------------------------------------------------------------------------------
-- A failed payment or a cancellation applies to whatever paid tier the tenant is on: after a
-- downgrade from the tier the Stripe subscription was bought for to a cheaper paid tier, both were
-- ignored, and the cheaper tier stayed active with nothing paying for it (outside attack, issue 30).
------------------------------------------------------------------------------------------------
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
$$;
comment on function app_private.apply_billing_event(text, text, timestamptz, jsonb, interval) is
  'Applies one signed Stripe event (checkout.session.completed, invoice.paid, invoice.payment_failed, customer.subscription.deleted), the only writer of paid status besides the operator''s set_tenant_tier: once per event id (a duplicate returns duplicate), ignoring events older than the last applied for the tenant, and finding the tenant only through our Checkout Session (whose client_reference_id must be that tenant) and the customer and subscription ids stored from it. An invoice.paid that comes before its Checkout Session completes waits, and is applied with it. A failed payment gives `grace` before suspension, and a cancellation ends the paid tier at the end of what was paid, whichever paid tier the tenant is on (a downgrade keeps the subscription); a free tier or a trial of another tier is left alone. Returns what it did.';

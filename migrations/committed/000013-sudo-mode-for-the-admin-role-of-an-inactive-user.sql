--! Previous: sha1:f11e203bc77a65abdab03498c295f7f0e134988e
--! Hash: sha1:caa6f8e062bbf12bbf8dc45c68b937f98da78eb8
--! Message: sudo mode for the admin role of an inactive user

-- Enter migration here (idempotent while it is current.sql)

-- Sudo mode also guards the admin role given to an inactive user (the second outside attack on
-- issue 23): a stolen token could otherwise leave a deactivated member with the admin role, which
-- the next admin to reactivate them as a teammate would turn into an active admin.
create or replace function app_private.tg_users__require_reauthentication() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
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
$$;
comment on function app_private.tg_users__require_reauthentication() is
  'Trigger on users: granting the admin role (raised, to an active or inactive user, or added with it), making an admin active again, or ending an admin (demoted, deactivated, deleted) needs sudo mode (app_private.require_reauthentication).';

--! Previous: sha1:4778868dd4c7a710c1d6058959d0b7413e01e51d
--! Hash: sha1:d1358de4222a47bbebbf6f7eddc023bb819124b2
--! Message: structure check in one pass over the catalog

-- The first structure check computed each tenant's signature separately, scanning pg_class (no
-- index on relnamespace alone) and the pg_policies view once per tenant: quadratic in tenants,
-- minutes at 10,000. This version reads the catalog once for all the schemas it is given.
create or replace function app_private.tenant_signatures(schema_names text[])
  returns table (nsp text, sig text)
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
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
$$;
comment on function app_private.tenant_signatures(text[]) is
  'One line per table, column, constraint, index, trigger, policy and grant of each given schema, with the schema''s name replaced by {schema}; reads the catalog once for all of them.';

create or replace function app_private.tenant_schema_signature(target text) returns setof text
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$ select sig from app_private.tenant_signatures(array[target]) $$;

create or replace function app_private.tenant_structure_drift()
  returns table (schema_name text, difference text, object text)
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  with tenants as (
    select ts.schema_name, ts.version from app_private.tenant_schemas ts where ts.tenant_id is not null
  ), expected as (
    select t.schema_name as nsp, tpl.sig from tenants t cross join app_private.tenant_signatures(array['tenant_template']) tpl
  ), actual as (
    select nsp, sig from app_private.tenant_signatures(array(select schema_name from tenants))
  )
  select coalesce(e.nsp, a.nsp), case when a.sig is null then 'missing' else 'unexpected' end, coalesce(e.sig, a.sig)
    from expected e full join actual a on a.nsp = e.nsp and a.sig = e.sig
   where a.sig is null or e.sig is null
  union all
  select t.schema_name, 'version', format('at step %s, template at step %s', t.version, tpl.version)
    from tenants t, app_private.tenant_schemas tpl
   where tpl.schema_name = 'tenant_template' and t.version <> tpl.version
  order by 1, 2, 3
$$;

--! Previous: sha1:d55ce233f6b0526660c1154ade04dc18d4153a6b
--! Hash: sha1:b9dbf03081be7920440a4ddcbef064f49ec93cdb
--! Message: Issues 28, 29, 31: live changes through an unlogged outbox published in batches (no NOTIFY, no query per write); the opening check of a session known live (require_tenant_available); the structure check by catalog fingerprints (tenant_structure_drift_fast)

-- Enter migration here (idempotent while it is current.sql)

-- Issue 29: session liveness in memory. A gateway that provably hears every revocation
-- (stoflow_session_ended on its LISTEN connection) opens the transactions of a session it has
-- already seen live with this check alone; the tenant's maintenance state still applies to every
-- request.
create or replace function app_private.require_tenant_available() returns void
  language plpgsql stable security definer
  set search_path to 'pg_catalog', 'public', 'pg_temp'
as $$
declare
  tenant_id text := current_setting('jwt.claims.tenant_id', true);
begin
  if coalesce(tenant_id, '') <> '' then
    perform app_private.assert_tenant_available(tenant_id::int); -- SFMNT while the tenant's schema lags
  end if;
end
$$;
comment on function app_private.require_tenant_available() is
  'The opening check of a transaction whose session the gateway knows to be live (it verified it with app_private.require_live_session() and has heard no revocation of it since, see src/auth/session-liveness.ts): raises SFMNT (503 TENANT_MAINTENANCE) while the tenant of the claims lags behind the template; does nothing without a tenant.';
revoke all on function app_private.require_tenant_available() from public;
grant execute on function app_private.require_tenant_available() to stoflow_anonymous, stoflow_auth, stoflow_authenticator;

-- Issue 28: live updates without a NOTIFY per write, and without a query per write. NOTIFY takes
-- a lock on the whole database from its transaction's commit until the commit is flushed, so every
-- notifying writer committed one after the other (0.83× the write throughput of tenants with a
-- subscriber, bench:live); and asking app_private.live_listeners on every write cost 11 % of an
-- UPDATE, the row's JSON another 15 % (16 writers in SQL). The trigger now appends the row's key to
-- an unlogged outbox, and each gateway's publisher (src/live/publisher.ts) moves the queue to
-- NOTIFY every LIVE_PUBLISH_MS for the tenants some gateway listens for: one transaction and one
-- hold of the lock for the whole batch, one publisher at a time.
drop table if exists app_private.live_outbox; -- (its shape changed while current.sql was being written; it holds nothing durable)
create unlogged table app_private.live_outbox (
  id bigint generated always as identity primary key,
  tenant_id int not null,
  kind text not null,
  op text not null,
  key text not null
);
comment on table app_private.live_outbox is
  'Row changes of the tenant tables sellers wait for, appended by app_private.tg__notify_live and moved to NOTIFY stoflow_live by app_private.publish_live_changes (only for tenants some gateway listens for; the rest are dropped). Unlogged: a crash empties it, and every gateway then sends RESYNC (its LISTEN connection was lost). It grows only while no gateway publishes.';
comment on column app_private.live_outbox.id is 'Queue order: a later change of the same row always has a larger id (the row lock orders the writers).';
comment on column app_private.live_outbox.tenant_id is 'The tenant whose table changed (from the schema''s name).';
comment on column app_private.live_outbox.kind is 'What changed: product, vinted_product, publication or ai_generation (the trigger''s first argument).';
comment on column app_private.live_outbox.op is 'INSERT, UPDATE or DELETE.';
comment on column app_private.live_outbox.key is 'The row''s key (sku or id), as text. Keys only, never row data.';
alter table app_private.live_outbox enable row level security;
revoke all on app_private.live_outbox from public;

create or replace function app_private.tg__notify_live() returns trigger
  language plpgsql
  security definer
  set search_path = pg_catalog, pg_temp
  as $$
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
$$;
comment on function app_private.tg__notify_live() is
  'Trigger on the tenant tables sellers wait for (after each row): appends {tenant id from the schema name, the kind (argument 1), INSERT/UPDATE/DELETE, the row''s key (argument 2: the column sku or id)} to app_private.live_outbox, which app_private.publish_live_changes notifies on stoflow_live. Keys only, never row data: the gateway re-reads the row under the subscriber''s role. No query and no NOTIFY of the writer''s own: whether anyone listens is asked once per batch by the publisher. Security definer: writers can neither read nor write the outbox themselves.';

create or replace function app_private.publish_live_changes(max_changes int) returns int
  language plpgsql
  volatile
  security definer
  set search_path = pg_catalog, pg_temp
  as $$
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
$$;
comment on function app_private.publish_live_changes(int) is
  'Takes up to max_changes queued row changes (app_private.live_outbox, oldest first) and, for the tenants some gateway listens for (app_private.live_listeners), NOTIFYs them on stoflow_live ({t, k, op, id}) in this one transaction; returns how many it took (0 when another gateway is publishing). Called by every gateway every LIVE_PUBLISH_MS.';
revoke all on function app_private.publish_live_changes(int) from public;
grant execute on function app_private.publish_live_changes(int) to stoflow_authenticator;

-- Issue 31: the structure check in seconds at 50,000 tenants. The line-by-line comparison
-- (tenant_signatures) deparses every constraint, index, trigger, default and policy of every
-- tenant: 2.3 ms per tenant, 115 s at 50,100. The fast check compares a cheap fingerprint of each
-- schema's raw catalog rows with the template's, then compares line by line only the schemas whose
-- fingerprint (or step version) differs, so its rows are the full check's rows for those schemas.

-- A disabled trigger is drift too, and pg_get_triggerdef (tenant_signatures) leaves its state out.
create or replace function app_private.tenant_trigger_states(schema_names text[])
  returns table (nsp text, sig text)
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  select n.nspname::text, format('trigger %s.%s %s', c.relname, t.tgname,
                                 case t.tgenabled when 'D' then 'disabled' when 'R' then 'enabled on replica only'
                                                  when 'A' then 'enabled always' end)
    from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
   where t.tgenabled <> 'O' and not t.tgisinternal and n.nspname = any(schema_names)
$$;
comment on function app_private.tenant_trigger_states(text[]) is
  'One line per trigger of the given schemas that is not simply enabled (ALTER TABLE … DISABLE TRIGGER, ENABLE REPLICA or ALWAYS TRIGGER), which tenant_signatures does not show: pg_get_triggerdef leaves the state out.';

create or replace function app_private.tenant_fingerprints(schema_names text[])
  returns table (schema_name text, fingerprint text)
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
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
$$;
comment on function app_private.tenant_fingerprints(text[]) is
  'One fingerprint per given schema, equal for two schemas with the same tables, columns, defaults, constraints, indexes, triggers (and their state), policies and grants: the count and the sum of a 64-bit hash of each catalog row, read raw (no deparsing), in one pass for all schemas. '
  'The schema''s own objects are named, not numbered (a column''s type, a foreign key''s table), and its own name in a policy becomes {schema}. '
  'Chosen over fingerprints stored when a step applies and kept fresh by an event trigger: creating an event trigger needs a superuser, which the owner role is not, and a fingerprint computed now also sees changes made by hand while nothing watched. '
  'Measured at 3,000 and 6,000 tenants on 2 cores: 0.27 to 0.28 ms of backend CPU per tenant (15 s at 50,000), against 2.1 to 2.4 ms for the line-by-line check, where deparsing every constraint, index, trigger and default costs 1.5 ms; a count and sum need no sort, where an md5 of the sorted rows cost twice as much. '
  'Two different structures get the same fingerprint only if the hashes of their rows add up to the same sum: odds of about one in 10^19 for a drifted schema. '
  'An expression naming another object of the schema (nextval of its own sequence, a subquery on its own table) would hold that object''s number: every tenant would then differ from the template and be compared line by line, slower, never wrong.';

create or replace function app_private.tenant_structure_differences(schema_names text[])
  returns table (schema_name text, difference text, object text)
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
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
$$;
comment on function app_private.tenant_structure_differences(text[]) is
  'Every difference between the given tenant schemas and tenant_template, line by line (tenant_signatures, tenant_trigger_states): missing or unexpected objects, step version.';

create or replace function app_private.tenant_structure_drift()
  returns table (schema_name text, difference text, object text)
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  select * from app_private.tenant_structure_differences(array(select ts.schema_name from app_private.tenant_schemas ts where ts.tenant_id is not null))
$$;
comment on function app_private.tenant_structure_drift() is
  'Every difference between a tenant schema and tenant_template (missing or unexpected objects, step version), every tenant compared line by line: 2.3 ms per tenant (tenants:check --full). No row means every tenant has exactly the template''s structure.';

create or replace function app_private.tenant_structure_drift_fast()
  returns table (schema_name text, difference text, object text)
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  with fingerprints as (
    select ts.schema_name, ts.tenant_id, ts.version, f.fingerprint
      from app_private.tenant_schemas ts
      left join app_private.tenant_fingerprints(array(select schema_name from app_private.tenant_schemas)) f on f.schema_name = ts.schema_name
  )
  select * from app_private.tenant_structure_differences(array(
    select t.schema_name from fingerprints t, fingerprints tpl
     where tpl.schema_name = 'tenant_template' and t.tenant_id is not null
       and (t.fingerprint is distinct from tpl.fingerprint or t.version <> tpl.version)))
$$;
comment on function app_private.tenant_structure_drift_fast() is
  'The rows of tenant_structure_drift(), found faster: every schema''s fingerprint (tenant_fingerprints) is compared with the template''s, and only the tenants whose fingerprint or step version differs are compared line by line (tenants:check). '
  'About 0.3 ms per tenant when nothing drifted; a tenant that differs costs what it costs in the full check.';

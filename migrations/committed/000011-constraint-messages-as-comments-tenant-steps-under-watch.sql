--! Previous: sha1:8776f9b74cf0d05b285979e0847afc9fe32069b6
--! Hash: sha1:f4ed9e1bfcfa5cda07757c46d03886ec55da3eeb
--! Message: constraint messages as comments, tenant steps under watch

-- Enter migration here (idempotent while it is current.sql)

-- ===================================================================================================
-- The DBA's loop: constraint messages beside their constraints, read per refusal; tenant
-- steps that name the step, tenant and schema when they fail; under `npm run db -- watch`, tenant
-- steps reach every tenant in the transaction of current.sql.
-- ===================================================================================================

-- A message written beside its constraint, once, in the same migration:
--   comment on constraint products_gtin_check on {schema}.products is 'gtin must be 8 to 14 digits';
-- The comment's text is the message of a check, unique or primary key constraint (or of a unique
-- index: comment on index). A foreign key's comment is its relation's description in the API, so
-- there the message is a line `@message …`, which any constraint may use. The field is the
-- constraint's (first) column, or a line `@field <graphqlField>`.
-- No search_path of its own (every name qualified or in pg_catalog), so that PostgreSQL inlines it
-- into its callers' plans (definer functions, which pin theirs): the server's lookup stays cheap.
drop function if exists app_private.commented_constraints(oid[]);
create or replace function app_private.commented_constraints(tables oid[], only_constraint text default null)
  returns table (table_name text, constraint_name text, field text, message text)
  language sql stable
  as $$
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
$$;
comment on function app_private.commented_constraints(oid[], text) is
  'The messages written beside the constraints of these tables (or of one constraint of theirs) (comment on constraint, or on a unique index): the comment''s text, or its `@message` line (foreign keys: only that line, their comment being the relation''s description); the field is a `@field` line or the constraint''s first column.';

-- Every message, for an overview and the test that none is missing: beside the constraint first,
-- then the rows of app_private.constraint_messages, then one "… is required" per not-null column
-- (keyed by column: PostgreSQL names the column).
create or replace function app_private.constraint_messages()
  returns table (table_name text, constraint_name text, column_name text, field text, message text)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
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
$$;
comment on function app_private.constraint_messages() is
  'The field and message of every constraint of the API''s tables (and of every not-null column): written beside the constraint (app_private.commented_constraints), else a row of app_private.constraint_messages. The server reads one at a time (app_private.constraint_message).';
grant execute on function app_private.constraint_messages() to stoflow_authenticator;

-- What the server asks when a write breaks a constraint (read per refusal, so a message a
-- migration adds applies at once): the table and constraint PostgreSQL reports, or the column of
-- a not-null violation. Looked up by name and oid through the catalog's indexes, never by a scan
-- of catalogs that grow with every tenant schema (about 0.3 ms more than `select 1` here).
create or replace function app_private.constraint_message(table_name text, constraint_name text, column_name text)
  returns table (field text, message text)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
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
$$;
comment on function app_private.constraint_message(text, text, text) is
  'The GraphQL field and the client''s message for one refusal: the table and constraint PostgreSQL named (the table without its schema), or the column of a not-null violation. Read by the server for each refusal, so a message added by a migration applies without a restart.';
grant execute on function app_private.constraint_message(text, text, text) to stoflow_authenticator;

drop function if exists app_private.constraint_comment_messages();

comment on table app_private.constraint_messages is
  'What a client is told when a write breaks a constraint, for constraints whose message is not written beside them (comment on constraint … is ''message'', which wins): the GraphQL input field at fault and a sentence a seller''s app can show. The constraint name stays in the server log. A test fails while a constraint has neither.';

-- One line naming a failed tenant step: which step, which schema (and tenant), PostgreSQL's words.
create or replace function app_private.tenant_step_failure(target text, step_version int, error_message text, error_state text)
  returns text
  language sql stable
  set search_path = pg_catalog, public, pg_temp
  as $$
  select format('Tenant DDL step %s "%s" failed on %s: %s [%s]', step_version,
                (select s.name from app_private.tenant_ddl_steps s where s.version = step_version),
                case when app_private.tenant_id_of_schema(target) is null then target
                     else format('tenant %s (%s)', app_private.tenant_id_of_schema(target), target) end,
                error_message, error_state)
$$;
comment on function app_private.tenant_step_failure(text, int, text, text) is
  'How a failed tenant DDL step is told: its version and name, the tenant and schema (or tenant_template), PostgreSQL''s message and code.';

-- Runs one step on one schema; a failure is raised again naming the step and the schema, with
-- PostgreSQL's code.
create or replace function app_private.apply_tenant_ddl_step_named(target text, step_version int)
  returns void
  language plpgsql
  set search_path = pg_catalog, public, pg_temp
  as $$
declare
  error_state text;
  error_message text;
begin
  perform app_private.apply_tenant_ddl_step(target, step_version);
exception when others then
  get stacked diagnostics error_state = returned_sqlstate, error_message = message_text;
  raise exception using message = app_private.tenant_step_failure(target, step_version, error_message, error_state), errcode = error_state;
end;
$$;
comment on function app_private.apply_tenant_ddl_step_named(text, int) is
  'Runs one tenant DDL step on one schema (app_private.apply_tenant_ddl_step); a failure is raised again with the step, the tenant and the schema named, and PostgreSQL''s code kept.';

-- Under `npm run db -- watch` (which sets stoflow.catch_up_tenants = on for its transactions), a
-- step reaches every tenant in the transaction that adds it: no tenant ever lags, so none answers
-- 503 TENANT_MAINTENANCE while the DBA tries the change. A step that fails for one tenant fails the
-- whole save, naming the step, the tenant and the schema: nothing of current.sql is kept.
create or replace function app_private.catch_up_tenants_in_development()
  returns void
  language plpgsql
  set search_path = pg_catalog, public, pg_temp
  as $$
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
$$;
comment on function app_private.catch_up_tenants_in_development() is
  'With stoflow.catch_up_tenants = on (set by `npm run db -- watch`), brings every tenant schema to the last tenant DDL step in the current transaction; the first failure is raised with the step, tenant and schema named. Otherwise nothing: production tenants catch up in batches (npm run migrate).';

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
$$;
comment on function app_private.add_tenant_ddl_step(text,text) is
  'Appends a tenant DDL step (for migrations) and applies it to tenant_template at once (a failure names the step and the schema); tenant schemas catch up in batches afterwards (npm run migrate), or at once under `npm run db -- watch`. Idempotent for the same name and SQL. A step not yet committed (added by current.sql after the last committed migration) may change: its new SQL, which must be re-runnable, is run again on the template and on every schema that has it; a committed step never changes.';

-- ===================================================================================================
-- End of issue 25's block.
-- ===================================================================================================

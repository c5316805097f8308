-- Enter migration here (idempotent while it is current.sql)

-- export:
-- Bounded tenant exports (issue 10): the export measures the tenant's rows before it builds its
-- document and refuses (SQLSTATE SFBIG, EXPORT_TOO_LARGE) beyond the request's bound, which the
-- server sets as `stoflow.export_max_bytes` ('0': no bound, the operator's CLI export). A
-- document PostgreSQL cannot build (54000) or cannot build within the request's statement_timeout
-- is refused the same way, never as an internal error or an outage.
create or replace function app_private.export_tables() returns text[]
  language sql immutable
  set search_path = pg_catalog, pg_temp
  as $$ select array['products', 'vinted_products', 'publications_history', 'ai_generations_log'] $$;
comment on function app_private.export_tables() is
  'The tenant tables an export holds, in the order of the document.';

create or replace function app_private.assert_export_fits(tenant_schema text, max_bytes bigint) returns void
  language plpgsql stable
  set search_path = pg_catalog, pg_temp
  as $$
declare
  table_name text;
  row_bytes integer;
  total bigint := 0;
begin
  foreach table_name in array app_private.export_tables() loop
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
$$;
comment on function app_private.assert_export_fits(text, bigint) is
  'Refuses (SQLSTATE SFBIG) when the rows of a tenant schema''s exported tables, as JSON text, exceed max_bytes; stops reading at the bound.';

create or replace function public.export_tenant_data() returns jsonb
  language plpgsql stable security definer
  set search_path = pg_catalog, public, pg_temp
  as $$
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
    foreach table_name in array app_private.export_tables() loop
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
$$;
comment on function public.export_tenant_data() is
  'Everything of the signed-in admin''s tenant as one JSON document: tenant, users (no passwords), subscriptions and every tenant table. Refused (EXPORT_TOO_LARGE) beyond the server''s EXPORT_MAX_BYTES or its export time limit.';

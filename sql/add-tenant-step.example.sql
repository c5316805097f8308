-- How a migration changes the tenant tables (copy into migrations/current.sql).
--
-- A tenant DDL step is appended once and never edited once committed: tenant_template gets it at once, and
-- `npm run migrate` (or the next `npm start`) applies it to every client_<id> schema in batches
-- of TENANT_MIGRATION_BATCH, each tenant recording the step it reached; under `npm run db -- watch`
-- every tenant gets it at once, in the same transaction. New tenants replay all steps. Write
-- {schema} wherever the schema name goes; grant the new columns to the API roles and comment them,
-- or the structure check and the API will miss them. Every constraint gets the sentence a client
-- is shown when a write breaks it, as its comment (the field is the constraint's column). Until it
-- is committed, `db watch` runs an edited step again on the template and the tenants that have
-- it: write it so that it can run twice (if not exists, drop … if exists).
select app_private.add_tenant_ddl_step('products.gtin', $step$
  alter table {schema}.products add column if not exists gtin varchar(14)
    constraint products_gtin_check check (gtin ~ '^[0-9]{8,14}$');
  comment on column {schema}.products.gtin is 'Global trade item number (barcode).';
  comment on constraint products_gtin_check on {schema}.products is 'gtin must be 8 to 14 digits';
  grant insert (gtin), update (gtin) on {schema}.products to stoflow_user;
$step$);

-- After the tenants caught up, this returns no row:
-- select * from app_private.tenant_structure_drift();

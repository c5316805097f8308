--! Previous: sha1:b9dbf03081be7920440a4ddcbef064f49ec93cdb
--! Hash: sha1:df5b39dccc118f38f0b2bb5cdd46615fec745757
--! Message: Issue 31: the fast structure check joins the catalogs in 64 MB of work_mem (4 MB spilled to disk past 10,000 tenants): 24.5-29.3 s at 50,000 tenants before, 16-18.8 s after

-- Enter migration here (idempotent while it is current.sql)

-- Issue 31: the fast structure check at 50,000 tenants. Its hash joins (every relation of every
-- tenant schema against each catalog) outgrew the default work_mem of 4 MB past about 10,000
-- tenants and spilled to disk in more and more batches (2 at 3,000 tenants, 32 at 50,000), which
-- made the check grow faster than the tenants. With 64 MB they stay in memory.
alter function app_private.tenant_fingerprints(text[]) set work_mem = '64MB';
comment on function app_private.tenant_fingerprints(text[]) is
  'One fingerprint per given schema, equal for two schemas with the same tables, columns, defaults, constraints, indexes, triggers (and their state), policies and grants: the count and the sum of a 64-bit hash of each catalog row, read raw (no deparsing), in one pass for all schemas. '
  'The schema''s own objects are named, not numbered (a column''s type, a foreign key''s table), and its own name in a policy becomes {schema}. '
  'Chosen over fingerprints stored when a step applies and kept fresh by an event trigger: creating an event trigger needs a superuser, which the owner role is not, and a fingerprint computed now also sees changes made by hand while nothing watched. '
  'Runs with work_mem = 64MB (one call at a time, from tenants:check): with the default 4 MB its hash joins spilled to disk in 4 to 32 batches past 10,000 tenants. '
  'Measured on 2 cores, quiet, one database grown to each size: 0.32 ms per tenant at 10,000 and 0.39 at 25,000 with 4 MB; at 50,000, 24.5 to 29.3 s with 4 MB, 18.0 s with 64 MB and 17.5 s with 128 MB. '
  'A plan spread over parallel workers was tried and left: as fast as 64 MB in one process, at twice the CPU, since each catalog''s branch must scan pg_class again. '
  'Two different structures get the same fingerprint only if the hashes of their rows add up to the same sum: odds of about one in 10^19 for a drifted schema. '
  'An expression naming another object of the schema (nextval of its own sequence, a subquery on its own table) would hold that object''s number: every tenant would then differ from the template and be compared line by line, slower, never wrong.';

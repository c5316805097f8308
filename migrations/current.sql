-- Enter migration here (idempotent while it is current.sql)

-- hostile traffic: every text a response can carry has a width, so the cost estimate of a query
-- can weigh what it returns (a description counts as what it can hold, not as one value). Longer
-- values already stored make the step fail for that tenant only: see README, "When a tenant step fails".
select app_private.add_tenant_ddl_step('bounded texts', $step$
  alter table {schema}.products alter column description type varchar(10000);
  alter table {schema}.ai_generations_log alter column generated_text type varchar(10000);
  alter table {schema}.publications_history alter column error_message type varchar(2000);
  alter table {schema}.vinted_products alter column last_error type varchar(2000);
$step$);

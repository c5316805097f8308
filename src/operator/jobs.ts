import type pg from "pg";

/** The jobs whose last attempt failed: retrying (with backoff) or failed for good (every attempt spent). */
export async function failedJobs(owner: pg.Pool): Promise<Record<string, unknown>[]> {
  const { rows } = await owner.query<Record<string, unknown>>(`
    select id, task_identifier as task, key, attempts, max_attempts,
           case when attempts >= max_attempts then 'failed' else 'retrying' end as status,
           run_at as next_attempt, left(last_error, 200) as last_error
      from graphile_worker.jobs where last_error is not null order by id`);
  return rows;
}

/** Runs these failed jobs (all of them without ids) again now, with their attempts counted afresh; returns the ids rescheduled. */
export async function retryJobs(owner: pg.Pool, ids: number[] | "failed"): Promise<number[]> {
  const { rows } = await owner.query<{ id: string }>(
    `
    select id from graphile_worker.reschedule_jobs(
      coalesce($1::bigint[], array(select id from graphile_worker.jobs where last_error is not null)), run_at => now(), attempts => 0)`,
    [ids === "failed" ? null : ids],
  );
  return rows.map((row) => Number(row.id)).sort((a, b) => a - b);
}

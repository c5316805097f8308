/**
 * `work`, shared by the calls that come while it runs: a crowd of probes or scrapes (pipelined on
 * one socket or not) puts one query on the probes' connection, or one rendering of the metrics,
 * at a time, not one each that queue up in memory (the second outside attack on issue 24: 200
 * pipelined /health per 20 ms took the server to 4.5 GB; the fourth: unread pipelined /metrics
 * from 200 addresses took the API's /health to p99 3 s while each was rendered).
 */
export function sharedWhileRunning<T>(work: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () =>
    (running ??= work().finally(() => {
      running = undefined;
    }));
}

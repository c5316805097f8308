/**
 * The Mann–Whitney rank test (Wilcoxon rank-sum) of two samples, as its z score: near 0 when
 * neither sample tends to be larger, beyond ±3 when one does (the normal approximation, ties
 * given their average rank). Ranks are robust to the outliers of a busy machine, which would
 * swamp a comparison of means.
 */
export function rankSumZ(a: number[], b: number[]): number {
  const all = [...a.map((value) => ({ value, fromA: true })), ...b.map((value) => ({ value, fromA: false }))].sort(
    (x, y) => x.value - y.value,
  );
  let rankSumA = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j].value === all[i].value) j++;
    const averageRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (all[k].fromA) rankSumA += averageRank;
    i = j;
  }
  const [n1, n2] = [a.length, b.length];
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  return (u - (n1 * n2) / 2) / Math.sqrt((n1 * n2 * (n1 + n2 + 1)) / 12);
}

/**
 * Times `run(true)` and `run(false)` alternately, `pairs` times each (the order within each pair
 * drawn at random, so that a drift of the machine falls on both alike), after `warmUp` pairs left
 * out; returns the rank test's z (positive: `run(true)` is slower) and both medians in ms.
 */
export async function alternatingTimings(run: (first: boolean) => Promise<unknown>, pairs: number, warmUp = 10) {
  const times: Record<"yes" | "no", number[]> = { yes: [], no: [] };
  for (let i = 0; i < warmUp + pairs; i++) {
    for (const which of Math.random() < 0.5 ? [true, false] : [false, true]) {
      const started = performance.now();
      await run(which);
      if (i >= warmUp) times[which ? "yes" : "no"].push(performance.now() - started);
    }
  }
  const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
  return { z: rankSumZ(times.yes, times.no), medians: { yes: median(times.yes), no: median(times.no) } };
}

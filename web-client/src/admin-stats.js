// Pure helpers of the admin page (src/admin.js): per-second tick percentiles from the
// server's cumulative tick-duration histogram. No DOM here.

/** Pure: the q-quantile (0..1) of a histogram [[floor_us, count]], in ms (bucket floor). */
export function histogramQuantile(buckets, q) {
  const total = buckets.reduce((s, [, n]) => s + n, 0);
  if (total === 0) return null;
  let seen = 0;
  for (const [floor, n] of buckets) {
    seen += n;
    if (seen >= q * total) return floor / 1000;
  }
  return buckets[buckets.length - 1][0] / 1000;
}

/** Pure: the histogram of what happened between two cumulative ones. */
export function histogramSince(now, before) {
  const prev = new Map(before.map(([f, n]) => [f, n]));
  return now.map(([f, n]) => [f, n - (prev.get(f) ?? 0)]).filter(([, n]) => n > 0);
}

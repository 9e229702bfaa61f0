/**
 * Means with their standard errors: sd / sqrt(n) (sample standard deviation, n - 1), lm-evaluation-harness's
 * `stderr`; a ratio of sums (bits per byte: nats over bytes, summed over windows) takes the delta-method
 * error of a ratio estimator.
 */

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return xs.length ? s / xs.length : NaN;
}

/** Sample standard deviation (n - 1; 0 for fewer than two values). */
export function standardDeviation(xs: ArrayLike<number>): number {
  const n = xs.length;
  if (n < 2) return 0;
  const m = mean(xs);
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (xs[i]! - m) ** 2;
  return Math.sqrt(ss / (n - 1));
}

/** Standard error of the mean (0 for fewer than two values). */
export function standardError(xs: ArrayLike<number>): number {
  return standardDeviation(xs) / Math.sqrt(Math.max(1, xs.length));
}

/** sum(num) / sum(den) and its delta-method standard error over the items (num_i, den_i). */
export function ratio(num: ArrayLike<number>, den: ArrayLike<number>): { value: number; se: number } {
  const n = num.length;
  let sn = 0;
  let sd = 0;
  for (let i = 0; i < n; i++) {
    sn += num[i]!;
    sd += den[i]!;
  }
  const r = sn / sd;
  if (n < 2) return { value: r, se: 0 };
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (num[i]! - r * den[i]!) ** 2;
  return { value: r, se: Math.sqrt(ss / (n - 1) / n) / (sd / n) };
}

/**
 * Metrics with their uncertainty. A probe adds one value per item for each metric (1/0 for a correct
 * answer, a per-sequence loss), and every metric is reported as the items' mean with its standard error
 * sd / sqrt(n) (sample standard deviation, n - 1): lm-evaluation-harness's `stderr`. A ratio of sums (bits per
 * byte: nats over bytes, summed over windows) takes the delta-method error of a ratio estimator.
 */
import { mean, standardError } from "../core/stats.js";
import type { ProbeResult } from "./types.js";

export { mean, ratio, standardError } from "../core/stats.js";

/** Per-item values by metric; `result()` is the probe's metrics, standard errors and item counts. */
export class Samples {
  private readonly values = new Map<string, number[]>();
  private readonly fixed = new Map<string, { value: number; se: number; n: number }>();

  add(metric: string, value: number): void {
    const xs = this.values.get(metric) ?? [];
    xs.push(value);
    this.values.set(metric, xs);
  }

  /** A metric computed elsewhere (a ratio), with its error and item count. */
  set(metric: string, value: number, se: number, n: number): void {
    this.fixed.set(metric, { value, se, n });
  }

  result(n: number, details?: unknown): ProbeResult {
    const metrics: Record<string, number> = {};
    const stderr: Record<string, number> = {};
    const counts: Record<string, number> = {};
    for (const [m, xs] of this.values) {
      metrics[m] = mean(xs);
      stderr[m] = standardError(xs);
      counts[m] = xs.length;
    }
    for (const [m, f] of this.fixed) {
      metrics[m] = f.value;
      stderr[m] = f.se;
      counts[m] = f.n;
    }
    return { metrics, stderr, counts, n, ...(details === undefined ? {} : { details }) };
  }
}

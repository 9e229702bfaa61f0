/**
 * Metrics for other tools: CSV (one row per step, nested maps flattened to `sourceLoss.brown`) and a
 * TensorBoard event file of a finished run (a run writes its own as it trains, in RUN/tb/; this one is for
 * runs recorded before that, or a copy elsewhere), with the wall time each step was logged at.
 */
import { recordEvent, TensorboardWriter } from "../run/tensorboard.js";
import type { RunRecord } from "./loadRun.js";

export { crc32c, readTensorboard } from "../run/tensorboard.js";

/** Flatten one metrics line: numbers at the top level and one level into maps. */
export function flatten(m: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) {
    if (typeof v === "number") out[k] = v;
    else if (typeof v === "boolean") out[k] = v ? 1 : 0;
    else if (v && typeof v === "object") for (const [k2, v2] of Object.entries(v)) if (typeof v2 === "number") out[`${k}.${k2}`] = v2;
  }
  return out;
}

export function metricsCsv(run: RunRecord): string {
  const rows = run.metrics.map((m) => flatten(m as unknown as Record<string, unknown>));
  const columns = ["step", ...[...new Set(rows.flatMap((r) => Object.keys(r)))].filter((c) => c !== "step").sort()];
  const cell = (v: number | undefined) => (v === undefined ? "" : String(v));
  return [columns.join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))].join("\n") + "\n";
}

/** Write RUN's metrics and decisions as a TensorBoard event file in `dir`; returns its path. */
export function writeTensorboard(run: RunRecord, dir: string): string {
  const tb = new TensorboardWriter(dir);
  for (const m of run.metrics) tb.write(recordEvent("metrics", m as unknown as Record<string, unknown>)!);
  for (const d of run.decisions) tb.write(recordEvent("decisions", d as unknown as Record<string, unknown>)!);
  return tb.path;
}

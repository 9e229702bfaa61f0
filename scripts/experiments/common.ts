/**
 * Shared pieces of the experiment scripts: flags (`--seeds N`, `--steps`, `--lr`, `--json FILE`), runs from
 * the bundled base with their seed and compute recorded, probes on checkpoints, and results as mean ±
 * sample standard deviation over seeds, printed and written as JSON.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { initBackend } from "../../core/backend.js";
import { validateConfig } from "../../core/config/loadConfig.js";
import { TfjsModel } from "../../core/engine/tfjs/TfjsModel.js";
import type { RunSummary } from "../../core/hooks.js";
import { resolveModelSource } from "../../core/interop/modelSource.js";
import type { MtxPlugin } from "../../core/plugin.js";
import { loadRun } from "../../core/report/loadRun.js";
import { mean, standardDeviation } from "../../core/stats.js";
import { Trainer } from "../../core/Trainer.js";
import { PROBES } from "../../probes/index.js";
import type { ProbeResult } from "../../probes/types.js";

export const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};

export const say = (m: string) => process.stderr.write(m + "\n");

/** `--seeds N` (default 3): seeds 1..N. Every run of an experiment is repeated once per seed. */
export function seedsArg(fallback = 3): number[] {
  const n = Number(arg("seeds", String(fallback)));
  if (!Number.isInteger(n) || n < 1) {
    say(`--seeds must be a whole number of at least 1 (got ${arg("seeds", "")})`);
    process.exit(2);
  }
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** One training run of an experiment, as recorded in its JSON. */
export interface RunOutcome {
  label: string;
  seed: number;
  status: RunSummary["status"];
  endStep: number;
  tokens: number;
  /** Everything the run computed: compute.train + eval + probes + method. */
  flops: number;
  /**
   * FLOPs by kind: training steps (re-done ones included), the trainer's held-out evaluations, probes run
   * during training (drift, curriculum, probes), and a method's own extra work (`*.flops` metrics: irl's sampling).
   */
  compute: { train: number; eval: number; probes: number; method: number };
  wallTimeSec: number;
  heldoutBpb: number | null;
  runDir: string;
  lastCheckpoint?: string;
  summary: RunSummary;
}

/** Train from the bundled base (unless `from` is given) with `seed`, and return what the run did. */
export async function trainRun(label: string, overrides: Record<string, unknown>, plugins: MtxPlugin[] = [], seed?: number): Promise<RunOutcome> {
  const out = mkdtempSync(join(tmpdir(), `mtx-exp-${label.replace(/\W+/g, "-")}-`));
  const config = validateConfig({ out, checkpoint: { every: 0 }, eval: { every: 0, batches: 4 }, ...(seed === undefined ? {} : { seed }), ...overrides });
  say(`${label} (seed ${config.seed}): ${config.steps} steps -> ${out}`);
  const s = await new Trainer(config, plugins, { log: { info: () => {}, warn: (m) => say(`  ${m}`) } }).train();
  say(`${label} (seed ${config.seed}): ${s.status} at step ${s.endStep} in ${s.wallTimeSec.toFixed(0)} s, loss ${s.firstLoss?.toFixed(3)} -> ${s.lastLoss?.toFixed(3)}, held-out ${s.heldout?.bpb.toFixed(4) ?? "-"} bpb`);
  // Compute this run spent (steps re-done after a rollback included; not the base's lineage).
  const compute = { train: s.spent?.flops ?? s.flops - (s.base?.flops ?? 0), eval: s.spent?.evalFlops ?? 0, probes: s.spent?.probeFlops ?? 0, method: methodFlops(out) };
  const flops = compute.train + compute.eval + compute.probes + compute.method;
  return { label, seed: config.seed, status: s.status, endStep: s.endStep, tokens: s.spent?.tokens ?? s.tokens - (s.base?.tokens ?? 0), flops, compute, wallTimeSec: s.wallTimeSec, heldoutBpb: s.heldout?.bpb ?? null, runDir: out, lastCheckpoint: s.lastCheckpoint, summary: s };
}

/** A method's own compute: the last value of each cumulative `<plugin>.flops` metric in metrics.jsonl, summed. */
function methodFlops(runDir: string): number {
  const last = new Map<string, number>();
  for (const m of loadRun(runDir).metrics as unknown as Record<string, unknown>[]) {
    for (const [k, v] of Object.entries(m)) if (k.endsWith(".flops") && typeof v === "number") last.set(k, v);
  }
  return [...last.values()].reduce((a, b) => a + b, 0);
}

/** Run probes in this process on a checkpoint ('bundled', a directory or hf:DIR). */
export async function probe(checkpoint: string, runs: { probe: string; params: Record<string, unknown> }[], seed = 1234): Promise<ProbeResult[]> {
  await initBackend("auto");
  const model = TfjsModel.fromCheckpoint(resolveModelSource(checkpoint));
  try {
    const out: ProbeResult[] = [];
    for (const r of runs) out.push(await PROBES[r.probe]!.run({ model, tokenizer: model.tokenizer, seed, load: async () => model }, r.params));
    return out;
  } finally {
    await model.dispose();
  }
}

/** A measure over seeds: mean, sample standard deviation (n - 1) and the values. */
export interface Spread {
  mean: number;
  sd: number;
  n: number;
  values: number[];
}

export function spread(values: number[]): Spread {
  return { mean: mean(values), sd: standardDeviation(values), n: values.length, values };
}

/** "1.9807 ± 0.0012" (mean ± sd over seeds); `scale` 100 and a "%" unit for shares. */
export function fmt(s: Spread, digits = 4, scale = 1, unit = ""): string {
  if (!s.n || !Number.isFinite(s.mean)) return "-";
  return `${(s.mean * scale).toFixed(digits)}${unit} ± ${(s.sd * scale).toFixed(digits)}${unit}`;
}

export const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
export const signedPct = (s: Spread, digits = 2) => (s.n ? `${s.mean >= 0 ? "+" : ""}${(s.mean * 100).toFixed(digits)}% ± ${(s.sd * 100).toFixed(digits)}%` : "-");

/** Print a table with padded columns. */
export function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

/** Write the experiment's results (every run with its seed, compute and summary) to `--json FILE` or runs/experiments/NAME.json. */
export function saveResults(name: string, results: Record<string, unknown>): string {
  const file = resolve(arg("json", join("runs", "experiments", `${name}.json`)));
  mkdirSync(dirname(file), { recursive: true });
  const strip = (k: string, v: unknown) => (k === "summary" && v && typeof v === "object" ? { ...(v as RunSummary), verdicts: (v as RunSummary).verdicts.length } : v);
  writeFileSync(file, JSON.stringify({ experiment: name, date: new Date().toISOString(), argv: process.argv.slice(2), ...results }, strip, 2) + "\n");
  say(`results: ${file}`);
  return file;
}

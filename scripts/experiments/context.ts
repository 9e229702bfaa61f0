/**
 * `npm run experiment:context`: context extension of the bundled base (trained at 128 tokens) to 256, and
 * needle retrieval with distractors. Per seed, a stage at 256 tokens on the `long-context` recipe with
 * RoPE base scaling (ABF, base 10k -> 100k; --variants abf,yarn,pi,ntk for one stage each), then the base
 * and each stage measured at 1x and 2x the base's context (and 4x for the single needle):
 *   single     one needle, the trained phrasing (RULER's single NIAH)
 *   4 keys     four needles with distinct keys, one asked (RULER's multi-key NIAH): copying the only
 *              number in sight scores 25%
 *   novel      four keys, in a phrasing the retrieval data never uses
 * plus short-context held-out bits per byte and the induction probe's copy gain. The probes draw their
 * needles with the run's seed, so the base's spread is over needle draws and a stage's over training
 * seeds and draws. Options: --seeds N (3), --steps N (1600), --variants abf, --trials N per grid cell (4),
 * --lr (1e-3, cosine to a tenth), --recipe (long-context), --json FILE.
 */
import type { NeedleCell } from "../../probes/needle.js";
import { arg, fmt, probe, saveResults, say, seedsArg, spread, table, trainRun, type Spread } from "./common.js";

const seeds = seedsArg();
const steps = Number(arg("steps", "1600"));
const variants = arg("variants", "abf").split(",");
const trials = Number(arg("trials", "4"));
const lr = Number(arg("lr", "1e-3"));
const recipe = arg("recipe", "long-context");
const depths = Array.from({ length: 11 }, (_, i) => i / 10);

type Measure = Record<string, number>;
const columns = ["single@128", "single@256", "single@512", "4 keys@128", "4 keys@256", "novel@128", "novel@256", "short bpb", "copy gain"];

async function measure(checkpoint: string, seed: number): Promise<Measure> {
  const grid = { depths, trials };
  const [single, multi, novel, short, copying] = await probe(
    checkpoint,
    [
      { probe: "needle", params: { ...grid, lengths: [128, 256, 512] } },
      { probe: "needle", params: { ...grid, lengths: [128, 256], keys: 4 } },
      { probe: "needle", params: { ...grid, lengths: [128, 256], keys: 4, template: "novel" } },
      { probe: "heldout", params: { seqLen: 128, sequencesPerSource: 16 } },
      { probe: "induction", params: { seqLen: 128 } },
    ],
    seed,
  );
  const acc = (r: typeof single, L: number) => {
    const cells = (r!.details as { grid: NeedleCell[] }).grid.filter((c) => c.length === L);
    return cells.reduce((a, c) => a + c.accuracy, 0) / cells.length;
  };
  return {
    "single@128": acc(single, 128),
    "single@256": acc(single, 256),
    "single@512": acc(single, 512),
    "4 keys@128": acc(multi, 128),
    "4 keys@256": acc(multi, 256),
    "novel@128": acc(novel, 128),
    "novel@256": acc(novel, 256),
    "short bpb": short!.metrics.bpb!,
    "copy gain": copying!.metrics.gain!,
  };
}

const results: { model: string; seed: number; measure: Measure; runDir?: string; tokens?: number; flops?: number }[] = [];
const stage = { steps, data: { recipe, batchSize: 8 }, schedule: { peakLr: lr, minLr: lr / 10, warmupSteps: 20 } };
for (const seed of seeds) {
  say(`measuring the base (needle draws of seed ${seed})...`);
  results.push({ model: "base", seed, measure: await measure("bundled", seed) });
  for (const v of variants) {
    const rope = v === "abf" ? { type: "none", base: 100000 } : v === "yarn" ? { type: "yarn", factor: 2 } : v === "pi" ? { type: "linear", factor: 2 } : { type: "ntk", factor: 2 };
    const s = await trainRun(`context-${v}`, { ...stage, context: { length: 256, rope } }, [], seed);
    results.push({ model: `${v} stage`, seed, measure: await measure(s.lastCheckpoint!, seed), runDir: s.runDir, tokens: s.tokens, flops: s.flops });
  }
}

const models = [...new Set(results.map((r) => r.model))];
const rows = models.map((m) => ({ model: m, ...Object.fromEntries(columns.map((c) => [c, spread(results.filter((r) => r.model === m).map((r) => r.measure[c]!))])) }) as { model: string } & Record<string, Spread>);
console.log(`\nContext extension to 256 (${steps} steps, LR ${lr}, ${recipe}) and needle retrieval, ${seeds.length} seeds (${seeds.join(", ")}): greedy exact match over ${depths.length} depths x ${trials} trials per length (mean ± sd over seeds)`);
table(["model", ...columns], rows.map((r) => [r.model, ...columns.map((c) => (c === "short bpb" ? fmt(r[c]!, 4) : c === "copy gain" ? fmt(r[c]!, 2) : fmt(r[c]!, 1, 100, "%")))]));
saveResults("context", { seeds, steps, lr, recipe, variants, depths, trials, rows, results });

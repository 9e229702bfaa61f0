/**
 * `npm run experiment:adapters`: low-rank adapters against full training at equal steps from the bundled
 * base on the default mixture, over seeds. Reported per run: the trainable parameters, held-out general
 * bits per byte against the base (forgetting), held-out bits per byte of the specialist sources
 * (learning), and for the adapter run the same numbers after `mtx merge` (which must not change them).
 * Options: --seeds N (3), --steps N (200), --rank R (8), --lora-lr (1e-3), --json FILE.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mergeCheckpoint } from "../../core/checkpoint/merge.js";
import { arg, fmt, probe, saveResults, seedsArg, spread, table, trainRun } from "./common.js";

const seeds = seedsArg();
const steps = Number(arg("steps", "200"));
const rank = Number(arg("rank", "8"));
const loraLr = Number(arg("lora-lr", "1e-3"));
const specialist = ["spdx", "wordnet", "lodash"];

async function score(checkpoint: string) {
  const [r] = await probe(checkpoint, [{ probe: "heldout", params: { seqLen: 128, sequencesPerSource: 16 } }]);
  const m = r!.metrics;
  return { general: m.bpb!, specialist: specialist.reduce((a, s) => a + m[`bpb.${s}`]!, 0) / specialist.length };
}

const base = await score("bundled");
const results: { arm: string; seed: number; trainable?: number; general: number; specialist: number }[] = [];
for (const seed of seeds) {
  const full = await trainRun("full", { steps }, [], seed);
  const lora = await trainRun("lora", { steps, adapters: { rank, alpha: 2 * rank, targets: ["*.attn.*", "*.mlp.*"] }, schedule: { peakLr: loraLr, minLr: loraLr / 10 } }, [], seed);
  const loraAttn = await trainRun("lora-attn", { steps, adapters: { rank, alpha: 2 * rank }, schedule: { peakLr: loraLr, minLr: loraLr / 10 } }, [], seed);
  const merged = join(mkdtempSync(join(tmpdir(), "mtx-exp-merged-")), "merged");
  mergeCheckpoint(lora.lastCheckpoint!, merged);
  results.push({ arm: "full training, LR 3e-4", seed, trainable: full.summary.trainableParams, ...(await score(full.lastCheckpoint!)) });
  results.push({ arm: `LoRA r${rank} attn+mlp, LR ${loraLr}`, seed, trainable: lora.summary.trainableParams, ...(await score(lora.lastCheckpoint!)) });
  results.push({ arm: "  the same, merged (mtx merge)", seed, trainable: lora.summary.trainableParams, ...(await score(merged)) });
  results.push({ arm: `LoRA r${rank} attn only, LR ${loraLr}`, seed, trainable: loraAttn.summary.trainableParams, ...(await score(loraAttn.lastCheckpoint!)) });
}
const arms = [...new Set(results.map((r) => r.arm))];
const rows = arms.map((arm) => {
  const mine = results.filter((r) => r.arm === arm);
  return { arm, trainable: mine[0]!.trainable, general: spread(mine.map((r) => r.general / base.general - 1)), specialist: spread(mine.map((r) => r.specialist / base.specialist - 1)) };
});
console.log(`\n${steps} steps each from the bundled base (default mixture), ${seeds.length} seeds; held-out bits per byte at 128 tokens (16 sequences per source) vs the base (general ${base.general.toFixed(4)}, specialist ${base.specialist.toFixed(4)}); mean ± sd`);
table(["run", "trainable", "general bpb vs base", "specialist bpb vs base"], rows.map((r) => [r.arm, r.trainable?.toLocaleString("en-US") ?? "-", fmt(r.general, 2, 100, "%"), fmt(r.specialist, 2, 100, "%")]));
saveResults("adapters", { seeds, steps, rank, loraLr, base, rows, results });

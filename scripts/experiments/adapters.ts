/**
 * `npm run experiment:adapters`: low-rank adapters against full training at equal steps from the bundled
 * base on the default mixture. Reported per run: the trainable parameters, held-out general bits per
 * byte against the base (forgetting), held-out bits per byte of the specialist sources (learning), and
 * for the adapter run the same numbers after `mtx merge` (which must not change them).
 * Options: --steps N (default 200), --rank R (default 8), --lora-lr (default 1e-3).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mergeCheckpoint } from "../../core/checkpoint/merge.js";
import { arg, probe, trainRun } from "./common.js";

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
const full = await trainRun("full", { steps });
const lora = await trainRun("lora", { steps, adapters: { rank, alpha: 2 * rank, targets: ["*.attn.*", "*.mlp.*"] }, schedule: { peakLr: loraLr, minLr: loraLr / 10 } });
const loraAttn = await trainRun("lora-attn", { steps, adapters: { rank, alpha: 2 * rank }, schedule: { peakLr: loraLr, minLr: loraLr / 10 } });
const merged = join(mkdtempSync(join(tmpdir(), "mtx-exp-merged-")), "merged");
mergeCheckpoint(lora.lastCheckpoint!, merged);
const rows: [string, number | undefined, { general: number; specialist: number }][] = [
  ["base", undefined, base],
  [`full training, LR 3e-4`, full.summary.trainableParams, await score(full.lastCheckpoint!)],
  [`LoRA r${rank} attn+mlp, LR ${loraLr}`, lora.summary.trainableParams, await score(lora.lastCheckpoint!)],
  [`  the same, merged (mtx merge)`, lora.summary.trainableParams, await score(merged)],
  [`LoRA r${rank} attn only, LR ${loraLr}`, loraAttn.summary.trainableParams, await score(loraAttn.lastCheckpoint!)],
];
const rel = (x: number, b: number) => `${x >= b ? "+" : ""}${(((x - b) / b) * 100).toFixed(2)}%`;
console.log(`\n${steps} steps each from the bundled base (default mixture); held-out bits per byte at 128 tokens, 16 sequences per source`);
console.log(["run".padEnd(36), "trainable".padStart(11), "general bpb".padStart(22), "specialist bpb".padStart(22)].join(""));
for (const [label, n, s] of rows) {
  console.log([label.padEnd(36), (n === undefined ? "-" : n.toLocaleString("en-US")).padStart(11), `${s.general.toFixed(4)} (${rel(s.general, base.general)})`.padStart(22), `${s.specialist.toFixed(4)} (${rel(s.specialist, base.specialist)})`.padStart(22)].join(""));
}

/**
 * `npm run experiment:context`: context extension of the bundled base (trained at 128 tokens) to 256.
 * Needle-in-a-haystack at 1x, 2x and 4x the base's context (11 depths), short-context bits per byte and
 * the induction probe's copy gain (nats saved on a repeated span), before and after a short stage at 256
 * tokens on the `long-context` recipe with RoPE base scaling (ABF, base 10k -> 100k). Options: --steps N
 * (default 1600), --variants abf (also yarn, pi, ntk, comma-separated, one stage each), --trials N per
 * grid cell (default 12), --lr (peak, cosine to a tenth; default 1e-3), --recipe (default long-context;
 * a name or a recipe file).
 */
import type { NeedleCell } from "../../probes/needle.js";
import { arg, pct, probe, say, trainRun } from "./common.js";

const steps = Number(arg("steps", "1600"));
const variants = arg("variants", "abf").split(",");
const trials = Number(arg("trials", "12"));
const lr = Number(arg("lr", "1e-3"));
const recipe = arg("recipe", "long-context");
const lengths = [128, 256, 512];
const depths = Array.from({ length: 11 }, (_, i) => i / 10);

async function measure(checkpoint: string) {
  const [needle, short, copying] = await probe(checkpoint, [
    { probe: "needle", params: { lengths, depths, trials } },
    { probe: "heldout", params: { seqLen: 128, sequencesPerSource: 16 } },
    { probe: "induction", params: { seqLen: 128 } },
  ]);
  const grid = (needle!.details as { grid: NeedleCell[] }).grid;
  const at = (L: number) => grid.filter((c) => c.length === L);
  return {
    accuracy: Object.fromEntries(lengths.map((L) => [L, at(L).reduce((a, c) => a + c.accuracy, 0) / at(L).length])),
    cellsAll: Object.fromEntries(lengths.map((L) => [L, at(L).filter((c) => c.accuracy === 1).length / at(L).length])),
    meanRank: Object.fromEntries(lengths.map((L) => [L, at(L).reduce((a, c) => a + c.meanRank, 0) / at(L).length])),
    bpb128: short!.metrics.bpb!,
    copyGain: copying!.metrics.gain!,
  };
}

const rows: [string, Awaited<ReturnType<typeof measure>>][] = [];
say("measuring the base...");
const base = await measure("bundled");
rows.push(["base (128, RoPE 10k)", base]);
const stage = { steps, data: { recipe, batchSize: 8 }, schedule: { peakLr: lr, minLr: lr / 10, warmupSteps: 20 } };
for (const v of variants) {
  const rope = v === "abf" ? { type: "none", base: 100000 } : v === "yarn" ? { type: "yarn", factor: 2 } : v === "pi" ? { type: "linear", factor: 2 } : { type: "ntk", factor: 2 };
  const s = await trainRun(`context-${v}`, { ...stage, context: { length: 256, rope } });
  rows.push([`${v} stage (256, ${JSON.stringify(rope)}), ${steps} steps, LR ${lr}`, await measure(s.lastCheckpoint!)]);
}

console.log(`\nNeedle-in-a-haystack (${depths.length} depths x ${trials} trials per length): greedy exact-match accuracy; cells with every trial right; mean rank of the value's first token`);
console.log(["model".padEnd(58), ...lengths.map((L) => `len ${L}`.padStart(26)), "short bpb (128)".padStart(20), "copy gain".padStart(11)].join(""));
for (const [label, m] of rows) {
  const d = ((m.bpb128 - base.bpb128) / base.bpb128) * 100;
  console.log([label.padEnd(58), ...lengths.map((L) => `${pct(m.accuracy[L]!)} / ${pct(m.cellsAll[L]!)} / r${m.meanRank[L]!.toFixed(0)}`.padStart(26)), `${m.bpb128.toFixed(4)} (${d >= 0 ? "+" : ""}${d.toFixed(2)}%)`.padStart(20), m.copyGain.toFixed(2).padStart(11)].join(""));
}

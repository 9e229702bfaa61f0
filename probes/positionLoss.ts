/**
 * `position-loss`: mean loss by token position in buckets of powers of two ([0,1), [1,2), [2,4), ...) on
 * long held-out documents, at `seqLen` (which may exceed the training context: the curve past it shows
 * whether positions beyond the trained range are usable). `slope` is the last bucket minus the middle one.
 */
import { heldoutBatches, prepareMixture } from "../core/data/pipeline.js";
import type { ProbeDefinition } from "./types.js";

export const positionLoss: ProbeDefinition = {
  name: "position-loss",
  description: "loss by token-position bucket (powers of two) on long documents",
  async run({ model, tokenizer }, params) {
    const seqLen = Number(params.seqLen ?? model.config.contextLength);
    const sequences = Number(params.sequences ?? 8);
    const sources = (params.sources as string[] | undefined) ?? ["sotu-long", "sotu"];
    const { mixture } = prepareMixture(String(params.recipe ?? "bundled"));
    const docs = sources.flatMap((s) => mixture.heldout[s] ?? []);
    const batches = heldoutBatches(docs, tokenizer, seqLen, 1, sequences);
    const sums = new Float64Array(seqLen);
    for (const b of batches) {
      const loss = await model.tokenLoss(b);
      for (let t = 0; t < seqLen; t++) sums[t]! += loss[t]!;
    }
    const metrics: Record<string, number> = {};
    const buckets: { from: number; to: number; loss: number }[] = [];
    for (let lo = 0, hi = 1; lo < seqLen; lo = hi, hi *= 2) {
      const end = Math.min(hi, seqLen);
      let s = 0;
      for (let t = lo; t < end; t++) s += sums[t]!;
      const loss = s / ((end - lo) * batches.length);
      buckets.push({ from: lo, to: end, loss });
      metrics[`loss.pos${lo}`] = loss;
    }
    const last = buckets.at(-1)!.loss;
    const mid = buckets[Math.floor(buckets.length / 2)]!.loss;
    metrics.slope = last - mid;
    metrics.lastBucket = last;
    return { metrics, n: batches.length * seqLen, details: { seqLen, buckets } };
  },
};

/**
 * `position-loss`: mean loss by token position in buckets of powers of two ([0,1), [1,2), [2,4), ...) on
 * long held-out documents, at `seqLen` (which may exceed the training context: the curve past it shows
 * whether positions beyond the trained range are usable). `slope` is the last bucket minus the middle one.
 */
import { heldoutBatches, prepareMixture } from "../core/data/pipeline.js";
import { Samples } from "./stats.js";
import type { ProbeDefinition } from "./types.js";

export const positionLoss: ProbeDefinition = {
  name: "position-loss",
  description: "loss by token-position bucket (powers of two) on long documents",
  params: { seqLen: "tokens per sequence, may exceed the training context (the model's context)", sequences: "sequences (8)", sources: "held-out sources (sotu-long, sotu)", recipe: "mixture (bundled)" },
  metrics: () => ["loss.pos*", "slope", "lastBucket"],
  async run({ model, tokenizer }, params) {
    const seqLen = Number(params.seqLen ?? model.config.contextLength);
    const sequences = Number(params.sequences ?? 8);
    const sources = (params.sources as string[] | undefined) ?? ["sotu-long", "sotu"];
    const { mixture } = prepareMixture(String(params.recipe ?? "bundled"));
    const docs = sources.flatMap((s) => mixture.heldout[s] ?? []);
    const batches = heldoutBatches(docs, tokenizer, seqLen, 1, sequences);
    const ranges: [number, number][] = [];
    for (let lo = 0, hi = 1; lo < seqLen; lo = hi, hi *= 2) ranges.push([lo, Math.min(hi, seqLen)]);
    const mid = Math.floor(ranges.length / 2);
    // One value per sequence for each bucket, so the error is over sequences (positions within one are not independent).
    const out = new Samples();
    for (const b of batches) {
      const loss = await model.tokenLoss(b);
      const means = ranges.map(([lo, end]) => {
        let s = 0;
        for (let t = lo; t < end; t++) s += loss[t]!;
        return s / (end - lo);
      });
      ranges.forEach(([lo], i) => out.add(`loss.pos${lo}`, means[i]!));
      out.add("slope", means.at(-1)! - means[mid]!);
      out.add("lastBucket", means.at(-1)!);
    }
    const r = out.result(batches.length);
    const buckets = ranges.map(([lo, end]) => ({ from: lo, to: end, loss: r.metrics[`loss.pos${lo}`]! }));
    return { ...r, details: { seqLen, buckets } };
  },
};

/**
 * `induction`: in-context copying, the skill needle retrieval rests on (Olsson et al. 2022, "induction
 * heads"). Each sequence is a span of held-out general text followed by the same span again; once the
 * copy has begun, every token of it can be predicted by finding its earlier occurrence and reading what
 * came next. `lossFirst` and `lossRepeat` are the mean losses on the two occurrences (the first token of
 * each is skipped: nothing predicts it); `gain` = lossFirst - lossRepeat in nats. A model that copies has a
 * large gain (a trained LM's repeat loss falls well under 1 nat); a model without induction heads has a
 * gain near 0, and no context-extension stage gives it needle retrieval at any length.
 */
import { heldoutReplay, prepareMixture } from "../core/data/pipeline.js";
import { Samples } from "./stats.js";
import type { ProbeDefinition } from "./types.js";

export const induction: ProbeDefinition = {
  name: "induction",
  description: "in-context copying: loss on a repeated span of held-out text against its first occurrence",
  params: { seqLen: "tokens per sequence, twice the span (the model's context)", sequences: "spans (16)", recipe: "mixture (bundled)" },
  metrics: () => ["lossFirst", "lossRepeat", "gain"],
  async run({ model, tokenizer }, params) {
    const seqLen = Number(params.seqLen ?? model.config.contextLength);
    const sequences = Number(params.sequences ?? 16);
    const span = Math.floor(seqLen / 2);
    if (span < 4) throw new Error(`induction: seqLen ${seqLen} is too short (it needs at least 8 tokens)`);
    const { mixture } = prepareMixture(String(params.recipe ?? "bundled"));
    const spans: number[][] = [];
    for (const d of heldoutReplay(mixture)) {
      const ids = Array.from(tokenizer.encode(d.text));
      for (let at = 0; at + span <= ids.length && spans.length < sequences; at += span) spans.push(ids.slice(at, at + span));
      if (spans.length >= sequences) break;
    }
    if (!spans.length) throw new Error("induction: the recipe's replay sources have no held-out text long enough");
    const inputs = new Int32Array(spans.length * 2 * span);
    spans.forEach((s, i) => {
      inputs.set(s, i * 2 * span);
      inputs.set(s, i * 2 * span + span);
    });
    // Targets are the inputs shifted by one; the last target of each row is never read.
    const targets = new Int32Array(inputs.length);
    for (let i = 0; i + 1 < inputs.length; i++) targets[i] = inputs[i + 1]!;
    const loss = await model.tokenLoss({ inputs, targets, size: spans.length, seqLen: 2 * span });
    const out = new Samples();
    for (let r = 0; r < spans.length; r++) {
      const o = r * 2 * span;
      // Position t predicts token t+1: the first occurrence's tokens 1..span-1 are predicted at 0..span-2,
      // the copy's tokens 1..span-1 at span..2span-2.
      let first = 0;
      let repeat = 0;
      for (let t = 0; t < span - 1; t++) first += loss[o + t]!;
      for (let t = span; t < 2 * span - 1; t++) repeat += loss[o + t]!;
      out.add("lossFirst", first / (span - 1));
      out.add("lossRepeat", repeat / (span - 1));
      out.add("gain", (first - repeat) / (span - 1));
    }
    return out.result(spans.length, { seqLen, spans: spans.length });
  },
};

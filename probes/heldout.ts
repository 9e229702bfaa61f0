/**
 * `heldout`: held-out loss, perplexity and bits per byte per source (lm-evaluation-harness definitions:
 * perplexity = exp(mean NLL), bpb = sum NLL / sum bytes / ln 2), over the first windows of the held-out
 * documents of the bundled recipe. `bpb` is the general (replay) sources' value: the forgetting signal.
 */
import { heldoutBatches, heldoutReplay, labelledRows, prepareMixture, replaySources } from "../core/data/pipeline.js";
import { scoreRows } from "../core/engine/LanguageModel.js";
import type { ProbeDefinition } from "./types.js";

export const heldout: ProbeDefinition = {
  name: "heldout",
  description: "held-out loss, perplexity and bits per byte, general and per source",
  async run({ model, tokenizer }, params) {
    const perSource = Number(params.sequencesPerSource ?? 8);
    const seqLen = Number(params.seqLen ?? model.config.contextLength);
    const { mixture } = prepareMixture(String(params.recipe ?? "bundled"));
    const replay = replaySources(mixture);
    const metrics: Record<string, number> = {};
    const general = heldoutBatches(heldoutReplay(mixture), tokenizer, seqLen, perSource, Math.max(1, replay.length)).map(labelledRows);
    const g = await scoreRows(model, general);
    Object.assign(metrics, { loss: g.loss, perplexity: Math.exp(g.loss), bpb: g.bpb });
    let n = g.tokens;
    for (const [source, docs] of Object.entries(mixture.heldout)) {
      if (!docs.length) continue;
      const s = await scoreRows(model, heldoutBatches(docs, tokenizer, seqLen, perSource, 1).map(labelledRows));
      metrics[`bpb.${source}`] = s.bpb;
      metrics[`loss.${source}`] = s.loss;
      n += s.tokens;
    }
    return { metrics, n };
  },
};

/**
 * `heldout`: held-out loss, perplexity and bits per byte per source (lm-evaluation-harness definitions:
 * perplexity = exp(mean NLL), bpb = sum NLL / sum bytes / ln 2), over the first windows of the held-out
 * documents of the bundled recipe. `bpb` is the general (replay) sources' value: the forgetting signal.
 */
import { heldoutBatches, heldoutReplay, labelledRows, prepareMixture, replaySources } from "../core/data/pipeline.js";
import { scoreRows } from "../core/engine/LanguageModel.js";
import { loadRecipe } from "../core/data/mixture/recipe.js";
import { sourceName } from "../core/data/sources/catalog.js";
import { Samples } from "./stats.js";
import type { ProbeDefinition } from "./types.js";

export const heldout: ProbeDefinition = {
  name: "heldout",
  description: "held-out loss, perplexity and bits per byte, general and per source",
  params: { sequencesPerSource: "windows per source (8)", seqLen: "window length in tokens (the model's context)", recipe: "the mixture whose held-out documents are read (bundled)" },
  // Per-source metrics name the recipe's sources (a source without held-out documents yields none).
  metrics: (params) => ["loss", "perplexity", "bpb", ...loadRecipe(String(params.recipe ?? "bundled")).recipe.groups.flatMap((g) => g.sources.map(sourceName)).flatMap((s) => [`bpb.${s}`, `loss.${s}`])],
  async run({ model, tokenizer }, params) {
    const perSource = Number(params.sequencesPerSource ?? 8);
    const seqLen = Number(params.seqLen ?? model.config.contextLength);
    const { mixture } = prepareMixture(String(params.recipe ?? "bundled"));
    const replay = replaySources(mixture);
    const out = new Samples();
    const general = heldoutBatches(heldoutReplay(mixture), tokenizer, seqLen, perSource, Math.max(1, replay.length)).map(labelledRows);
    const g = await scoreRows(model, general);
    out.set("loss", g.loss, g.se.loss, g.windows);
    // exp is monotone: the error of perplexity by the delta method, exp(loss) x se(loss).
    out.set("perplexity", Math.exp(g.loss), Math.exp(g.loss) * g.se.loss, g.windows);
    out.set("bpb", g.bpb, g.se.bpb, g.windows);
    let n = g.windows;
    for (const [source, docs] of Object.entries(mixture.heldout)) {
      if (!docs.length) continue;
      const s = await scoreRows(model, heldoutBatches(docs, tokenizer, seqLen, perSource, 1).map(labelledRows));
      out.set(`bpb.${source}`, s.bpb, s.se.bpb, s.windows);
      out.set(`loss.${source}`, s.loss, s.se.loss, s.windows);
      n += s.windows;
    }
    return out.result(n);
  },
};

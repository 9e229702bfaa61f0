/**
 * `generation`: sanity of free generation from held-out general text prompts: the share of repeated
 * token 4-grams in greedy continuations (degenerate loops) and the continuation length before an end of
 * text (verbosity; reasoning overfitting shows up as longer, more repetitive output than the baseline).
 */
import { heldoutReplay, prepareMixture } from "../core/data/pipeline.js";
import { generateOne } from "../core/engine/LanguageModel.js";
import { Samples } from "./stats.js";
import type { ProbeDefinition } from "./types.js";

export function repetitionRate(ids: number[], n = 4): number {
  const seen = new Set<string>();
  let repeated = 0;
  let total = 0;
  for (let i = 0; i + n <= ids.length; i++) {
    const g = ids.slice(i, i + n).join(",");
    if (seen.has(g)) repeated++;
    seen.add(g);
    total++;
  }
  return total ? repeated / total : 0;
}

export const generation: ProbeDefinition = {
  name: "generation",
  description: "greedy continuations of general text: repeated 4-gram rate and length (verbosity)",
  params: { prompts: "held-out documents whose first 32 tokens are prompts (8)", maxTokens: "tokens per continuation (48)", recipe: "mixture (bundled)" },
  metrics: () => ["repetitionRate", "meanLength"],
  async run({ model, tokenizer }, params) {
    const prompts = Number(params.prompts ?? 8);
    const maxTokens = Number(params.maxTokens ?? 48);
    const { mixture } = prepareMixture(String(params.recipe ?? "bundled"));
    const docs = heldoutReplay(mixture).slice(0, prompts);
    const s = new Samples();
    for (const d of docs) {
      const out = await generateOne(model, tokenizer.encode(d.text).slice(0, 32), { maxTokens, stopTokens: [tokenizer.eosId] });
      s.add("repetitionRate", repetitionRate(out));
      s.add("meanLength", out.length);
    }
    return s.result(docs.length);
  },
};

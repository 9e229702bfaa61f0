/**
 * `contrastive`: an auxiliary InfoNCE loss (van den Oord et al. 2018) on the final hidden states. For
 * each sequence, the longest segment belonging to one document is split in two halves; each half is
 * mean-pooled and L2-normalised (z1_b, z2_b). With similarities s_bc = z1_b . z2_c / tau, the loss is the
 * symmetric cross-entropy of matching each span to its partner among the batch's other documents:
 *   L = (CE(s, diag) + CE(s^T, diag)) / 2
 * It is lightly weighted and logged on its own (`contrastive` in the step's terms). It is declared as an
 * `infonce` term, which every engine computes inside its gradient.
 */
import type { Batch } from "../../core/data/batch.js";
import type { PooledSpan } from "../../core/engine/types.js";
import type { MtxPlugin, PluginDefinition, TrainerApi } from "../../core/plugin.js";
import schema from "./contrastive.schema.json" with { type: "json" };

const PLUGIN_NAME = "contrastive";

export interface ContrastiveOptions {
  weight: number;
  temperature: number;
  minSpan: number;
}

/** The two halves of each sequence's longest single-document segment (sequences with a long enough one). */
export function spanPairs(batch: Batch, minSpan: number): { first: PooledSpan[]; second: PooledSpan[] } {
  const T = batch.seqLen;
  const first: PooledSpan[] = [];
  const second: PooledSpan[] = [];
  batch.samples.forEach((s, row) => {
    const cuts = [0, ...s.boundaries, T];
    let best: [number, number] = [0, 0];
    for (let i = 0; i + 1 < cuts.length; i++) if (cuts[i + 1]! - cuts[i]! > best[1] - best[0]) best = [cuts[i]!, cuts[i + 1]!];
    if (best[1] - best[0] < 2 * minSpan) return;
    const mid = best[0] + Math.floor((best[1] - best[0]) / 2);
    first.push({ row, from: best[0], to: mid });
    second.push({ row, from: mid, to: best[1] });
  });
  return { first, second };
}

export class ContrastivePlugin implements MtxPlugin {
  readonly name = PLUGIN_NAME;
  constructor(readonly options: ContrastiveOptions) {}

  apply(trainer: TrainerApi): void {
    trainer.hooks.transformLoss.tap(PLUGIN_NAME, (loss) => {
      const { first, second } = spanPairs(loss.batch, this.options.minSpan);
      if (first.length < 2) return loss;
      return { ...loss, terms: [...loss.terms, { kind: "infonce", name: PLUGIN_NAME, weight: this.options.weight, temperature: this.options.temperature, first, second }] };
    });
  }
}

export const contrastivePlugin: PluginDefinition<ContrastiveOptions> = {
  name: PLUGIN_NAME,
  kind: "method",
  description: "Auxiliary InfoNCE loss between two spans of the same document against the batch's other documents",
  hooks: ["transformLoss"],
  optionsSchema: schema,
  create: (o) => new ContrastivePlugin(o),
};

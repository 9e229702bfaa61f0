/**
 * `contrastive`: an auxiliary InfoNCE loss (van den Oord et al. 2018) on the final hidden states. For
 * each sequence, the longest segment belonging to one document is split in two halves; each half is
 * mean-pooled and L2-normalised (z1_b, z2_b). With similarities s_bc = z1_b . z2_c / tau, the loss is the
 * symmetric cross-entropy of matching each span to its partner among the batch's other documents:
 *   L = (CE(s, diag) + CE(s^T, diag)) / 2
 * It is lightly weighted and logged on its own (`contrastive` in the step's terms). The pooling is a
 * constant matrix product, so the term differentiates through the whole model.
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch } from "../core/data/batch.js";
import type { LossContext } from "../core/hooks.js";
import type { MtxPlugin } from "../core/plugin.js";
import type { TrainerApi } from "../core/TrainerApi.js";
import schema from "./schema/contrastive.schema.json" with { type: "json" };
import type { PluginDefinition } from "./types.js";

const PLUGIN_NAME = "contrastive";

export interface ContrastiveOptions {
  weight: number;
  temperature: number;
  minSpan: number;
}

/**
 * Pooling matrices [R, B*T] (rows: the sequences that take part) averaging the first and second half of
 * each sequence's longest single-document segment.
 */
export function spanPooling(batch: Batch, minSpan: number): { first: Float32Array; second: Float32Array; rows: number } {
  const T = batch.seqLen;
  const spans: [number, number, number][] = [];
  batch.samples.forEach((s, b) => {
    const cuts = [0, ...s.boundaries, T];
    let best: [number, number] = [0, 0];
    for (let i = 0; i + 1 < cuts.length; i++) if (cuts[i + 1]! - cuts[i]! > best[1] - best[0]) best = [cuts[i]!, cuts[i + 1]!];
    if (best[1] - best[0] >= 2 * minSpan) spans.push([b, best[0], best[1]]);
  });
  const N = batch.size * T;
  const first = new Float32Array(spans.length * N);
  const second = new Float32Array(spans.length * N);
  spans.forEach(([b, from, to], r) => {
    const mid = from + Math.floor((to - from) / 2);
    for (let t = from; t < mid; t++) first[r * N + b * T + t] = 1 / (mid - from);
    for (let t = mid; t < to; t++) second[r * N + b * T + t] = 1 / (to - mid);
  });
  return { first, second, rows: spans.length };
}

/** The InfoNCE term for a batch's hidden states [B*T, D], or undefined when fewer than 2 sequences qualify. */
export function infoNce(hidden: tf.Tensor2D, batch: Batch, o: ContrastiveOptions): tf.Scalar | undefined {
  const p = spanPooling(batch, o.minSpan);
  if (p.rows < 2) return undefined;
  const N = batch.size * batch.seqLen;
  const pool = (m: Float32Array) => tf.matMul(tf.tensor2d(m, [p.rows, N]), hidden);
  const z1 = tf.div(pool(p.first), tf.add(tf.norm(pool(p.first), 2, 1, true), 1e-6));
  const z2 = tf.div(pool(p.second), tf.add(tf.norm(pool(p.second), 2, 1, true), 1e-6));
  const sim = tf.div(tf.matMul(z1, z2, false, true), o.temperature) as tf.Tensor2D;
  const labels = tf.oneHot(tf.range(0, p.rows, 1, "int32"), p.rows);
  const ce = (logits: tf.Tensor2D) => tf.mean(tf.neg(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), 1)));
  return tf.div(tf.add(ce(sim), ce(tf.transpose(sim) as tf.Tensor2D)), 2) as tf.Scalar;
}

export class ContrastivePlugin implements MtxPlugin {
  readonly name = PLUGIN_NAME;
  constructor(readonly options: ContrastiveOptions) {}

  apply(trainer: TrainerApi): void {
    trainer.hooks.transformLoss.tap(PLUGIN_NAME, (loss: LossContext) => {
      const term = infoNce(loss.forward.hidden, loss.batch, this.options);
      if (!term) return loss;
      return { ...loss, terms: [...loss.terms, { name: PLUGIN_NAME, value: tf.mul(term, this.options.weight) as tf.Scalar }] };
    });
  }
}

export const contrastivePlugin: PluginDefinition<ContrastiveOptions> = {
  name: PLUGIN_NAME,
  description: "Auxiliary InfoNCE loss between two spans of the same document against the batch's other documents",
  hooks: ["transformLoss"],
  optionsSchema: schema,
  create: (o) => new ContrastivePlugin(o),
};

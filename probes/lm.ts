/**
 * Language-model measurements on fixed token batches: held-out loss and bits per byte (core/evaluate.ts),
 * and the KL divergence of the model's next-token distribution from a reference model's.
 */
import * as tf from "@tensorflow/tfjs";
import type { TokenBatch } from "../core/evaluate.js";
import type { Transformer } from "../core/model/Transformer.js";

export { scoreBatches, type HeldoutScore as LmScore, type TokenBatch } from "../core/evaluate.js";

/** Mean per-token KL(reference || model) in nats over the batches' positions. */
export function klFrom(reference: Transformer, model: Transformer, batches: TokenBatch[]): number {
  let total = 0;
  let n = 0;
  for (const b of batches) {
    total += tf.tidy(() => {
      const lp = tf.logSoftmax(model.logits(model.hidden(b.inputs, b.size, b.seqLen)));
      const lq = tf.logSoftmax(reference.logits(reference.hidden(b.inputs, b.size, b.seqLen)));
      return tf.sum(tf.mul(tf.exp(lq), tf.sub(lq, lp))).dataSync()[0]!;
    });
    n += b.size * b.seqLen;
  }
  return total / n;
}

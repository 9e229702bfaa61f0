/**
 * Language-model probes on fixed token batches: held-out loss and bits per byte (overall and per source),
 * and the KL divergence of the model's next-token distribution from a reference model's.
 */
import * as tf from "@tensorflow/tfjs";
import type { Transformer } from "../core/model/Transformer.js";

export interface TokenBatch {
  inputs: Int32Array;
  targets: Int32Array;
  size: number;
  seqLen: number;
  /** Source label per sequence. */
  sources: string[];
}

export interface LmScore {
  loss: number;
  bpb: number;
  tokens: number;
  perSource: Record<string, { loss: number; bpb: number; tokens: number }>;
}

/** Mean NLL (nats/token) and bits per byte; `tokenBytes[id]` is each token's UTF-8 length. */
export function scoreBatches(model: Transformer, batches: TokenBatch[], tokenBytes: Int32Array): LmScore {
  let nll = 0;
  let tokens = 0;
  let bytes = 0;
  const per = new Map<string, { nll: number; tokens: number; bytes: number }>();
  for (const b of batches) {
    const loss = tf.tidy(() => model.forward(b.inputs, b.targets, b.size, b.seqLen).tokenLoss.dataSync() as Float32Array);
    for (let s = 0; s < b.size; s++) {
      const acc = per.get(b.sources[s]!) ?? { nll: 0, tokens: 0, bytes: 0 };
      for (let t = 0; t < b.seqLen; t++) {
        const i = s * b.seqLen + t;
        acc.nll += loss[i]!;
        acc.bytes += tokenBytes[b.targets[i]!]!;
      }
      acc.tokens += b.seqLen;
      per.set(b.sources[s]!, acc);
    }
  }
  const perSource: LmScore["perSource"] = {};
  for (const [s, a] of [...per].sort(([x], [y]) => (x < y ? -1 : 1))) {
    perSource[s] = { loss: a.nll / a.tokens, bpb: a.nll / a.bytes / Math.LN2, tokens: a.tokens };
    nll += a.nll;
    tokens += a.tokens;
    bytes += a.bytes;
  }
  return { loss: nll / tokens, bpb: nll / bytes / Math.LN2, tokens, perSource };
}

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

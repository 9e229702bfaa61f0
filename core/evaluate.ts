/**
 * Held-out evaluation: mean next-token loss (nats) and bits per byte, overall and per source
 * (lm-evaluation-harness definitions: bpb = sum NLL / sum bytes / ln 2, which compares across tokenizers).
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch } from "./data/batch.js";
import type { Tokenizer } from "./data/tokenizer/Tokenizer.js";
import type { Transformer } from "./model/Transformer.js";

export interface HeldoutScore {
  loss: number;
  bpb: number;
  tokens: number;
  perSource: Record<string, { loss: number; bpb: number; tokens: number }>;
}

export function evaluateBatches(model: Transformer, batches: Batch[], tokenizer: Tokenizer): HeldoutScore {
  let nll = 0;
  let tokens = 0;
  let bytes = 0;
  const per = new Map<string, { nll: number; tokens: number; bytes: number }>();
  for (const batch of batches) {
    const tokenLoss = tf.tidy(() => model.forward(batch.inputs, batch.targets, batch.size, batch.seqLen).tokenLoss.dataSync() as Float32Array);
    for (let b = 0; b < batch.size; b++) {
      let seqNll = 0;
      let seqBytes = 0;
      for (let t = 0; t < batch.seqLen; t++) {
        const i = b * batch.seqLen + t;
        seqNll += tokenLoss[i]!;
        seqBytes += tokenizer.tokenBytes[batch.targets[i]!]!;
      }
      const src = batch.samples[b]!.source;
      const acc = per.get(src) ?? { nll: 0, tokens: 0, bytes: 0 };
      acc.nll += seqNll;
      acc.tokens += batch.seqLen;
      acc.bytes += seqBytes;
      per.set(src, acc);
      nll += seqNll;
      tokens += batch.seqLen;
      bytes += seqBytes;
    }
  }
  const bpb = (n: number, b: number) => (b > 0 ? n / b / Math.LN2 : NaN);
  const perSource: HeldoutScore["perSource"] = {};
  for (const [s, a] of [...per].sort(([x], [y]) => (x < y ? -1 : 1))) perSource[s] = { loss: a.nll / a.tokens, bpb: bpb(a.nll, a.bytes), tokens: a.tokens };
  return { loss: nll / tokens, bpb: bpb(nll, bytes), tokens, perSource };
}

/**
 * Held-out scoring: mean next-token loss (nats) and bits per byte, overall and per source
 * (lm-evaluation-harness definitions: bpb = sum NLL / sum bytes / ln 2, which compares across tokenizers).
 * Used by the trainer's evaluation and by the probes.
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch } from "./data/batch.js";
import type { Tokenizer } from "./data/tokenizer/Tokenizer.js";
import type { Transformer } from "./model/Transformer.js";

/** Token batches as they cross into workers: ids [B, T] and a source label per sequence. */
export interface TokenBatch {
  inputs: Int32Array;
  targets: Int32Array;
  size: number;
  seqLen: number;
  sources: string[];
}

export interface HeldoutScore {
  loss: number;
  bpb: number;
  tokens: number;
  perSource: Record<string, { loss: number; bpb: number; tokens: number }>;
}

export function tokenBatch(b: Batch): TokenBatch {
  return { inputs: b.inputs, targets: b.targets, size: b.size, seqLen: b.seqLen, sources: b.samples.map((s) => s.source) };
}

/** Score token batches; `tokenBytes[id]` is each token's UTF-8 length. */
export function scoreBatches(model: Transformer, batches: TokenBatch[], tokenBytes: Int32Array): HeldoutScore {
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
  let nll = 0;
  let tokens = 0;
  let bytes = 0;
  const perSource: HeldoutScore["perSource"] = {};
  for (const [s, a] of [...per].sort(([x], [y]) => (x < y ? -1 : 1))) {
    perSource[s] = { loss: a.nll / a.tokens, bpb: a.nll / a.bytes / Math.LN2, tokens: a.tokens };
    nll += a.nll;
    tokens += a.tokens;
    bytes += a.bytes;
  }
  return { loss: nll / tokens, bpb: nll / bytes / Math.LN2, tokens, perSource };
}

export function evaluateBatches(model: Transformer, batches: Batch[], tokenizer: Tokenizer): HeldoutScore {
  return scoreBatches(model, batches.map(tokenBatch), tokenizer.tokenBytes);
}

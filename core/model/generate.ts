/**
 * Decoding for probes and RL: greedy or temperature sampling with a key/value cache (Transformer.decoder),
 * k rows side by side. A prompt longer than the window keeps its last `window` tokens. Deterministic:
 * sampling draws from a seeded stream.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.js";
import type { Decoder, Transformer } from "./Transformer.js";

export interface GenerateOptions {
  maxTokens: number;
  /** 0 for greedy. */
  temperature?: number;
  rng?: Rng;
  /** Stop after any of these token ids (not included in the output). */
  stop?: number[];
  /** Stop when the decoded text so far matches (checked by the caller's predicate on token ids). */
  until?: (generated: number[]) => boolean;
  /** Context window to use (default: the model's training context). */
  window?: number;
}

/** Log-probabilities of the next token after `ids` (the last `window` tokens are used). */
export function nextTokenLogProbs(model: Transformer, ids: number[], window = model.config.contextLength): Float32Array {
  const ctx = ids.slice(-window);
  return tf.tidy(() => {
    const hidden = model.hidden(Int32Array.from(ctx), 1, ctx.length);
    const last = tf.slice(hidden, [ctx.length - 1, 0], [1, -1]) as tf.Tensor2D;
    return tf.logSoftmax(model.logits(last)).dataSync() as Float32Array;
  });
}

function sample(logp: Float32Array, temperature: number, rng: Rng): number {
  let max = -Infinity;
  for (const v of logp) if (v > max) max = v;
  const w = Array.from(logp, (v) => Math.exp((v - max) / temperature));
  const total = w.reduce((a, b) => a + b, 0);
  let r = rng.next() * total;
  for (let i = 0; i < w.length; i++) {
    r -= w[i]!;
    if (r <= 0) return i;
  }
  return w.length - 1;
}

function argmax(logp: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logp.length; i++) if (logp[i]! > logp[best]!) best = i;
  return best;
}

/** Token ids generated after `prompt`. */
export function generate(model: Transformer, prompt: ArrayLike<number>, opts: GenerateOptions): number[] {
  return sampleGroup(model, prompt, 1, opts)[0]!;
}

/**
 * `k` completions of one prompt sampled side by side (one forward pass of k rows per token), each cut at
 * its first stop token or when `until` says so. Row i draws from `rng` in order, so the result depends
 * only on the model, the prompt and the stream.
 */
export function sampleGroup(model: Transformer, prompt: ArrayLike<number>, k: number, opts: GenerateOptions): number[][] {
  const window = opts.window ?? model.config.contextLength;
  const t = opts.temperature ?? 0;
  const rows = Array.from({ length: k }, () => Array.from(prompt));
  const out: number[][] = Array.from({ length: k }, () => []);
  const done = new Array<boolean>(k).fill(false);
  // Past the window, the cache restarts from the last 3/4 window of tokens (one prefill every window/4
  // tokens): every token still sees at least 3/4 of a window of context, at cached cost.
  const keep = Math.max(1, Math.floor((window * 3) / 4));
  let decoder: Decoder | undefined;
  try {
    for (let step = 0; step < opts.maxTokens && done.includes(false); step++) {
      let n = 1;
      if (!decoder || decoder.length + 1 > window) {
        decoder?.dispose();
        n = Math.min(rows[0]!.length, decoder ? keep : window);
        decoder = model.decoder(k, window);
      }
      const ids = new Int32Array(k * n);
      rows.forEach((r, i) => ids.set(r.slice(-n), i * n));
      const logp = decoder.feed(ids, n);
      const V = logp.length / k;
      for (let i = 0; i < k; i++) {
        // Finished rows keep growing (with their last token) so all rows stay the same length.
        const row = logp.subarray(i * V, (i + 1) * V);
        const next = t > 0 && opts.rng ? sample(row, t, opts.rng) : argmax(row);
        rows[i]!.push(next);
        if (done[i]) continue;
        if (opts.stop?.includes(next)) done[i] = true;
        else {
          out[i]!.push(next);
          if (opts.until?.(out[i]!)) done[i] = true;
        }
      }
    }
  } finally {
    decoder?.dispose();
  }
  return out;
}

/**
 * Sum of log-probabilities of `continuation` after `prompt`, in one forward pass over at most `window`
 * tokens (the prompt is cut from the left when both do not fit).
 */
export function continuationLogProb(model: Transformer, prompt: number[], continuation: number[], window = model.config.contextLength): number {
  const keep = Math.max(1, Math.min(prompt.length, window + 1 - continuation.length));
  const head = prompt.slice(prompt.length - keep);
  const ids = [...head, ...continuation];
  const inputs = Int32Array.from(ids.slice(0, -1));
  const targets = Int32Array.from(ids.slice(1));
  const tokenLoss = tf.tidy(() => model.forward(inputs, targets, 1, inputs.length).tokenLoss.dataSync() as Float32Array);
  let lp = 0;
  for (let i = head.length - 1; i < tokenLoss.length; i++) lp -= tokenLoss[i]!;
  return lp;
}

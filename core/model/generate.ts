/**
 * Decoding for probes: greedy or temperature sampling, one sequence at a time, recomputing the forward
 * pass over the last `contextLength` tokens at each step (the models are small and completions short,
 * so a KV cache is not worth its complexity here). Deterministic: sampling draws from a seeded stream.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.js";
import type { Transformer } from "./Transformer.js";

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
  const out: number[] = [];
  const ids = Array.from(prompt);
  const t = opts.temperature ?? 0;
  for (let i = 0; i < opts.maxTokens; i++) {
    const logp = nextTokenLogProbs(model, ids, opts.window);
    const next = t > 0 && opts.rng ? sample(logp, t, opts.rng) : argmax(logp);
    if (opts.stop?.includes(next)) break;
    out.push(next);
    ids.push(next);
    if (opts.until?.(out)) break;
  }
  return out;
}

/** Sum of log-probabilities of `continuation` after `prompt`, in one forward pass. */
export function continuationLogProb(model: Transformer, prompt: number[], continuation: number[]): number {
  const ids = [...prompt, ...continuation];
  const inputs = Int32Array.from(ids.slice(0, -1));
  const targets = Int32Array.from(ids.slice(1));
  const tokenLoss = tf.tidy(() => model.forward(inputs, targets, 1, inputs.length).tokenLoss.dataSync() as Float32Array);
  let lp = 0;
  for (let i = prompt.length - 1; i < tokenLoss.length; i++) lp -= tokenLoss[i]!;
  return lp;
}

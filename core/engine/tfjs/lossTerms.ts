/**
 * The declared loss terms (engine/types.ts) as TensorFlow.js ops inside the gradient. The PyTorch engine
 * computes the same formulas (core/torch/mtx_torch/terms.py); test/engine holds the two to each other.
 */
import * as tf from "@tensorflow/tfjs";
import type { ForwardResult, Transformer } from "../../model/Transformer.js";
import type { LossTerm, PooledSpan, Rollouts, TokenRows } from "../types.js";

export interface ComputedTerm {
  name: string;
  value: tf.Scalar;
  details?: Record<string, tf.Scalar>;
}

/** Mean-pooling matrix [spans, B*T]: row i averages the hidden states of span i. */
function poolingMatrix(spans: PooledSpan[], rows: TokenRows): tf.Tensor2D {
  const N = rows.size * rows.seqLen;
  const m = new Float32Array(spans.length * N);
  spans.forEach((s, i) => {
    for (let t = s.from; t < s.to; t++) m[i * N + s.row * rows.seqLen + t] = 1 / (s.to - s.from);
  });
  return tf.tensor2d(m, [spans.length, N]);
}

/** Symmetric InfoNCE between pooled span pairs against the batch's other pairs. */
export function infoNce(hidden: tf.Tensor2D, rows: TokenRows, first: PooledSpan[], second: PooledSpan[], temperature: number): tf.Scalar {
  const R = first.length;
  const normed = (spans: PooledSpan[]) => {
    const pooled = tf.matMul(poolingMatrix(spans, rows), hidden);
    return tf.div(pooled, tf.add(tf.norm(pooled, 2, 1, true), 1e-6));
  };
  const sim = tf.div(tf.matMul(normed(first), normed(second), false, true), temperature) as tf.Tensor2D;
  const labels = tf.cast(tf.oneHot(tf.range(0, R, 1, "int32"), R), "float32");
  const ce = (logits: tf.Tensor2D) => tf.mean(tf.neg(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), 1)));
  return tf.div(tf.add(ce(sim), ce(tf.transpose(sim) as tf.Tensor2D)), 2) as tf.Scalar;
}

/**
 * REINFORCE on sampled tokens, -sum_i A_i sum_t log p(y_it) / tokens, plus klWeight x the k3 estimate of
 * KL(model || reference) on the same tokens (Schulman 2020: exp(r - l) - (r - l) - 1).
 */
export function reinforce(model: Transformer, r: Rollouts, klWeight: number): { loss: tf.Scalar; kl?: tf.Scalar } {
  const forward = model.forward(r.inputs, r.targets, r.size, r.seqLen);
  const logp = tf.neg(forward.tokenLoss);
  const mask = tf.tensor1d(r.mask);
  const adv = tf.reshape(tf.tile(tf.reshape(tf.tensor1d(r.advantages), [r.size, 1]), [1, r.seqLen]), [-1]);
  const pg = tf.div(tf.neg(tf.sum(tf.mul(tf.mul(adv, logp), mask))), r.tokens) as tf.Scalar;
  if (!r.refLogp || klWeight <= 0) return { loss: pg };
  const diff = tf.sub(tf.tensor1d(r.refLogp), logp);
  const kl = tf.div(tf.sum(tf.mul(tf.sub(tf.sub(tf.exp(diff), diff), 1), mask)), r.tokens) as tf.Scalar;
  return { loss: tf.add(pg, tf.mul(kl, klWeight)) as tf.Scalar, kl };
}

/** A declared term as a differentiable scalar (call inside the gradient computation). */
export function computeTerm(term: LossTerm, model: Transformer, forward: ForwardResult, batch: TokenRows): ComputedTerm | undefined {
  switch (term.kind) {
    case "masked-nll": {
      let count = 0;
      for (const v of term.mask) count += v;
      if (!count) return undefined;
      const value = tf.mul(tf.div(tf.sum(tf.mul(forward.tokenLoss, tf.tensor1d(term.mask))), count), term.weight) as tf.Scalar;
      return { name: term.name, value };
    }
    case "infonce": {
      if (term.first.length < 2) return undefined;
      return { name: term.name, value: tf.mul(infoNce(forward.hidden, batch, term.first, term.second, term.temperature), term.weight) as tf.Scalar };
    }
    case "reinforce": {
      const { loss, kl } = reinforce(model, term.rollouts, term.klWeight);
      return { name: term.name, value: tf.mul(loss, term.weight) as tf.Scalar, details: kl ? { kl } : undefined };
    }
    case "nan":
      return { name: term.name, value: tf.mul(NaN, forward.lmLoss) as tf.Scalar };
  }
}

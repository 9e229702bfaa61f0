/**
 * Rotary position embedding tables (Su et al. 2021, rotate-half convention as in GPT-NeoX / Llama).
 * inv_i = base^(-2i/d) for i = 0..d/2-1; raising `base` is "base scaling" / ABF (Xiong et al. 2023).
 */
import * as tf from "@tensorflow/tfjs";

export interface RopeSpec {
  base: number;
}

/** Inverse frequencies for a rotary dimension `dim` (even). */
export function inverseFrequencies(dim: number, spec: RopeSpec): Float64Array {
  const half = dim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.pow(spec.base, (-2 * i) / dim);
  return inv;
}

export interface RopeTables {
  cos: tf.Tensor2D;
  sin: tf.Tensor2D;
  /** Signed permutation [D, D] with x rot = rotateHalf(x) inside each head. */
  rot: tf.Tensor2D;
  rotT: tf.Tensor2D;
}

/**
 * cos/sin tables [T, D] for `heads` heads of size `headDim`, every head sharing the same frequencies, and
 * the rotate-half matrix. The caller owns the tensors (keep them across steps; dispose on shutdown).
 */
export function ropeTables(seqLen: number, heads: number, headDim: number, spec: RopeSpec): RopeTables {
  const d = heads * headDim;
  const half = headDim / 2;
  const inv = inverseFrequencies(headDim, spec);
  const cos = new Float32Array(seqLen * d);
  const sin = new Float32Array(seqLen * d);
  for (let t = 0; t < seqLen; t++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < headDim; i++) {
        const angle = t * inv[i % half]!;
        cos[t * d + h * headDim + i] = Math.cos(angle);
        sin[t * d + h * headDim + i] = Math.sin(angle);
      }
    }
  }
  const rot = new Float32Array(d * d);
  for (let h = 0; h < heads; h++) {
    const o = h * headDim;
    for (let i = 0; i < half; i++) {
      rot[(o + i + half) * d + (o + i)] = -1; // out[i] = -x[i + half]
      rot[(o + i) * d + (o + i + half)] = 1; // out[i + half] = x[i]
    }
  }
  const rotTensor = tf.tensor2d(rot, [d, d]);
  return {
    cos: tf.tensor2d(cos, [seqLen, d]),
    sin: tf.tensor2d(sin, [seqLen, d]),
    rot: rotTensor,
    rotT: tf.transpose(rotTensor),
  };
}

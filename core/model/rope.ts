/**
 * Rotary position embedding tables (Su et al. 2021, rotate-half convention as in GPT-NeoX / Llama).
 * inv_i = base^(-2i/d) for i = 0..d/2-1; raising `base` is "base scaling" / ABF (Xiong et al. 2023);
 * the scalings of inverseFrequencies() follow Hugging Face transformers' modeling_rope_utils.py.
 */
import * as tf from "@tensorflow/tfjs";

export type RopeScaling = "none" | "linear" | "ntk" | "dynamic-ntk" | "yarn";

export interface RopeSpec {
  base: number;
  /** Frequency scaling for context extension (Hugging Face modeling_rope_utils.py); default none. */
  type?: RopeScaling;
  /** Extension factor s (target context / original context). */
  factor?: number;
  /** Context the model was trained at (L0). */
  originalContext?: number;
  /** dynamic-ntk: the sequence length being run. */
  seqLen?: number;
  /** YaRN ramp bounds in rotations (beta_fast, beta_slow); defaults 32 and 1. */
  betaFast?: number;
  betaSlow?: number;
}

/**
 * Inverse frequencies for a rotary dimension `dim` (even), with context-extension scaling:
 * - none: inv_i = base^(-2i/d)
 * - linear (position interpolation, Chen et al. 2023): inv / s
 * - ntk (NTK-aware): base' = base * s^(d/(d-2))
 * - dynamic-ntk: when L > L0, base' = base * (s L / L0 - (s - 1))^(d/(d-2)); unchanged otherwise
 * - yarn (Peng et al. 2023): per-dimension blend of inv (high frequencies, extrapolated) and inv / s
 *   (low frequencies, interpolated) along a linear ramp between the dimensions that make beta_fast and
 *   beta_slow rotations over L0.
 */
export function inverseFrequencies(dim: number, spec: RopeSpec): Float64Array {
  const half = dim / 2;
  const s = spec.factor ?? 1;
  const type = spec.type ?? "none";
  let base = spec.base;
  if (type === "ntk") base = base * Math.pow(s, dim / (dim - 2));
  if (type === "dynamic-ntk") {
    const L0 = requireContext(spec);
    const L = spec.seqLen ?? L0;
    if (L > L0) base = base * Math.pow((s * L) / L0 - (s - 1), dim / (dim - 2));
  }
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.pow(base, (-2 * i) / dim);
  if (type === "linear") for (let i = 0; i < half; i++) inv[i]! /= s;
  if (type === "yarn") {
    const L0 = requireContext(spec);
    const correctionDim = (rotations: number) => (dim * Math.log(L0 / (rotations * 2 * Math.PI))) / (2 * Math.log(spec.base));
    const low = Math.max(Math.floor(correctionDim(spec.betaFast ?? 32)), 0);
    let high = Math.min(Math.ceil(correctionDim(spec.betaSlow ?? 1)), dim - 1);
    if (high === low) high += 0.001;
    for (let i = 0; i < half; i++) {
      const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
      // ramp 0: keep the original frequency (extrapolate); ramp 1: interpolate (divide by s).
      inv[i] = (inv[i]! / s) * ramp + inv[i]! * (1 - ramp);
    }
  }
  return inv;
}

/** YaRN's attention temperature, applied to cos and sin: 0.1 ln(s) + 1 (1 for other scalings). */
export function ropeAttentionFactor(spec: RopeSpec): number {
  const s = spec.factor ?? 1;
  return spec.type === "yarn" && s > 1 ? 0.1 * Math.log(s) + 1 : 1;
}

function requireContext(spec: RopeSpec): number {
  if (!spec.originalContext || spec.originalContext < 1) throw new Error(`rope scaling '${spec.type}' needs originalContext (the context the model was trained at)`);
  return spec.originalContext;
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
  const inv = inverseFrequencies(headDim, { ...spec, seqLen: spec.seqLen ?? seqLen });
  const scale = ropeAttentionFactor(spec);
  const cos = new Float32Array(seqLen * d);
  const sin = new Float32Array(seqLen * d);
  for (let t = 0; t < seqLen; t++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < headDim; i++) {
        const angle = t * inv[i % half]!;
        cos[t * d + h * headDim + i] = Math.cos(angle) * scale;
        sin[t * d + h * headDim + i] = Math.sin(angle) * scale;
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

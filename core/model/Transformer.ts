/**
 * The decoder-only transformer: token embedding, pre-RMSNorm blocks with causal attention (rotary
 * positions, rotate-half; grouped-query when nKvHeads < nHeads) and an MLP, final RMSNorm, LM head, no
 * biases. The MLP is the architecture's (core/model/architecture.ts): SwiGLU for `llama` (the default, the
 * layout Hugging Face and llama.cpp run), 4x tanh-GELU for `gelu` (shared/peers/torch_gpt.py's, so
 * throughput compares like for like on it).
 *
 * Every parameter has a stable dotted name (`blocks.3.attn.wq`) by which freezing, adapters, weight decay
 * and logs address it. Matrices are stored [in, out] (y = x W), the transpose of torch's nn.Linear.
 */
import * as tf from "@tensorflow/tfjs";
import type { AdapterSpec, ModelConfig } from "../config/types.js";
import { matchesPattern } from "../optim/state.js";
import { ConfigError } from "../errors.js";
import type { Rng } from "../rng.js";
import { intermediateOf, kvHeads, mlpMatrices } from "./architecture.js";
import { applyRope, causalAttention, crossEntropy, embedding, fusedCausalAttention, geluTanh, linear, rmsNorm, swiglu } from "./layers.js";
import { nativeKernelsActive } from "../native/kernels.js";
import { ropeTables, type RopeSpec, type RopeTables } from "./rope.js";

export type ParamKind = "embedding" | "matrix" | "norm" | "adapter";

/** Suffixes of a low-rank adapter's factors: W x + (alpha / r) (x A) B with A [in, r], B [r, out]. */
export const ADAPTER_A = ".lora_a";
export const ADAPTER_B = ".lora_b";

export function isAdapterParam(name: string): boolean {
  return name.endsWith(ADAPTER_A) || name.endsWith(ADAPTER_B);
}

/** The RoPE frequencies a model config asks for (`rope` over the older `ropeBase`). */
export function ropeSpec(cfg: ModelConfig): RopeSpec {
  const r = cfg.rope ?? {};
  return { type: r.type ?? "none", base: r.base ?? cfg.ropeBase, factor: r.factor ?? 1, originalContext: r.originalContext ?? cfg.contextLength };
}

/** Names of the matrices that carry adapters under `spec` (in parameter order). */
export function adapterTargets(cfg: ModelConfig, spec: AdapterSpec): string[] {
  return parameterSpecs({ ...cfg, adapters: null })
    .filter((p) => p.kind === "matrix" && spec.targets.some((t) => matchesPattern(p.name, t)))
    .map((p) => p.name);
}

export interface ParamSpec {
  name: string;
  shape: number[];
  kind: ParamKind;
  /** Init std for matrices and embeddings; norms start at 1. */
  initStd: number;
}

/** See Transformer.decoder(). */
export interface Decoder {
  /** Feed n tokens per row (row-major [rows, n]); returns next-token log-probabilities [rows, V]. */
  feed(ids: Int32Array, n: number): Float32Array;
  /** Tokens fed per row so far. */
  readonly length: number;
  dispose(): void;
}

/** Outputs of one forward pass with loss. */
export interface ForwardResult {
  /** Mean cross-entropy over all tokens (nats), scalar. */
  lmLoss: tf.Scalar;
  /** Per-token cross-entropy [B*T] (nats), for per-sequence and per-position statistics. */
  tokenLoss: tf.Tensor1D;
  /** z-loss term (already weighted by the coefficient), when enabled. */
  zLoss?: tf.Scalar;
  /** Final hidden states [B*T, D], for auxiliary losses. */
  hidden: tf.Tensor2D;
}

/** Parameter specs in their stable order. */
export function parameterSpecs(cfg: ModelConfig): ParamSpec[] {
  const { vocabSize: V, dModel: D, nLayers: L, initStd } = cfg;
  const hd = D / cfg.nHeads;
  const kv = kvHeads(cfg) * hd;
  const inter = intermediateOf(cfg);
  const outStd = initStd / Math.sqrt(2 * L);
  const specs: ParamSpec[] = [{ name: "embed.weight", shape: [V, D], kind: "embedding", initStd }];
  for (let i = 0; i < L; i++) {
    const p = `blocks.${i}`;
    specs.push({ name: `${p}.norm1.weight`, shape: [D], kind: "norm", initStd: 0 });
    specs.push({ name: `${p}.attn.wq`, shape: [D, D], kind: "matrix", initStd });
    for (const w of ["wk", "wv"]) specs.push({ name: `${p}.attn.${w}`, shape: [D, kv], kind: "matrix", initStd });
    specs.push({ name: `${p}.attn.wo`, shape: [D, D], kind: "matrix", initStd: outStd });
    if (cfg.qkNorm) {
      specs.push({ name: `${p}.attn.qNorm.weight`, shape: [hd], kind: "norm", initStd: 0 });
      specs.push({ name: `${p}.attn.kNorm.weight`, shape: [hd], kind: "norm", initStd: 0 });
    }
    specs.push({ name: `${p}.norm2.weight`, shape: [D], kind: "norm", initStd: 0 });
    const mlp = mlpMatrices(cfg.arch ?? "gelu"); // inputs (w1 | gate, up), then the output projection
    for (const name of mlp.slice(0, -1)) specs.push({ name: `${p}.${name}`, shape: [D, inter], kind: "matrix", initStd });
    specs.push({ name: `${p}.${mlp.at(-1)!}`, shape: [inter, D], kind: "matrix", initStd: outStd });
  }
  specs.push({ name: "norm.weight", shape: [D], kind: "norm", initStd: 0 });
  if (!cfg.tiedEmbeddings) specs.push({ name: "head.weight", shape: [D, V], kind: "matrix", initStd });
  if (cfg.adapters) {
    const r = cfg.adapters.rank;
    const byName = new Map(specs.map((s) => [s.name, s]));
    for (const target of adapterTargets(cfg, cfg.adapters)) {
      const [din, dout] = byName.get(target)!.shape as [number, number];
      // A ~ N(0, 1/in) so x A keeps the scale of x; B = 0 so training starts at the base model (LoRA).
      specs.push({ name: target + ADAPTER_A, shape: [din, r], kind: "adapter", initStd: 1 / Math.sqrt(din) });
      specs.push({ name: target + ADAPTER_B, shape: [r, dout], kind: "adapter", initStd: 0 });
    }
  }
  return specs;
}

/** Checks the architecture is buildable; the message names the field. */
export function validateModelConfig(cfg: ModelConfig): void {
  if (cfg.dModel % cfg.nHeads !== 0) {
    throw new ConfigError(`model.dModel (${cfg.dModel}) must be divisible by model.nHeads (${cfg.nHeads})`);
  }
  if (cfg.adapters) {
    const { rank, alpha } = cfg.adapters;
    if (!(Number.isInteger(rank) && rank >= 1) || !(alpha > 0)) throw new ConfigError(`adapters need an integer rank >= 1 and alpha > 0 (got rank ${rank}, alpha ${alpha})`);
    const matrices = parameterSpecs({ ...cfg, adapters: null }).filter((p) => p.kind === "matrix");
    const unmatched = cfg.adapters.targets.filter((t) => !matrices.some((p) => matchesPattern(p.name, t)));
    if (unmatched.length) throw new ConfigError(`adapters.targets: ${unmatched.map((t) => `'${t}'`).join(", ")} match${unmatched.length === 1 ? "es" : ""} no weight matrix of this ${cfg.arch ?? "gelu"} model; its matrices are named like 'blocks.0.attn.wq', 'blocks.0.${mlpMatrices(cfg.arch ?? "gelu")[0]}', 'head.weight'`);
  }
  if ((cfg.dModel / cfg.nHeads) % 2 !== 0) {
    throw new ConfigError(`model.dModel / model.nHeads (${cfg.dModel / cfg.nHeads}) must be even for rotary embeddings`);
  }
  const kv = kvHeads(cfg);
  if (!(Number.isInteger(kv) && kv >= 1 && cfg.nHeads % kv === 0)) throw new ConfigError(`model.nKvHeads (${kv}) must divide model.nHeads (${cfg.nHeads}): each key/value head serves nHeads / nKvHeads query heads`);
  if ((cfg.arch ?? "gelu") === "gelu" && cfg.intermediate != null && cfg.intermediate !== 4 * cfg.dModel) {
    throw new ConfigError(`model.intermediate (${cfg.intermediate}) applies to arch "llama"; the gelu MLP is 4 x dModel (${4 * cfg.dModel}): remove model.intermediate or use arch "llama"`);
  }
}

/** Matrix multiply-accumulates per token of the parameter matmuls (for FLOP accounting: 6 N per token). */
export function matmulParams(cfg: ModelConfig): number {
  const D = cfg.dModel;
  const attention = 2 * D * D + 2 * D * kvHeads(cfg) * (D / cfg.nHeads);
  const mlp = mlpMatrices(cfg.arch ?? "gelu").length * D * intermediateOf(cfg);
  return cfg.nLayers * (attention + mlp) + D * cfg.vocabSize;
}

/** Forward FLOPs of `positions` token positions in sequences `length` long: 2N plus attention (4 L T D), a third of training's. */
export function forwardFlops(cfg: ModelConfig, positions: number, length: number): number {
  return positions * (2 * matmulParams(cfg) + 4 * cfg.nLayers * length * cfg.dModel);
}

/** Training FLOPs per token at sequence length T: 6N for the matmuls plus attention (12 L T D). */
export function trainFlopsPerToken(cfg: ModelConfig, seqLen: number): number {
  return 6 * matmulParams(cfg) + 12 * cfg.nLayers * seqLen * cfg.dModel;
}

export class Transformer {
  readonly specs: ParamSpec[];
  readonly params: Map<string, tf.Variable>;
  private readonly ropeCache = new Map<number, RopeTables & { mask: tf.Tensor2D }>();

  private constructor(readonly config: ModelConfig, weights: Map<string, Float32Array>) {
    validateModelConfig(config);
    this.specs = parameterSpecs(config);
    this.params = new Map();
    for (const spec of this.specs) {
      const data = weights.get(spec.name);
      if (!data) throw new ConfigError(`missing weights for parameter '${spec.name}'`);
      this.params.set(spec.name, tf.variable(tf.tensor(data, spec.shape, "float32"), true, spec.name.replace(/\./g, "/") + "_" + uid()));
    }
  }

  /** A model with seeded N(0, std) init (norm gains at 1), identical on every backend. */
  static init(config: ModelConfig, rng: Rng): Transformer {
    validateModelConfig(config);
    const weights = new Map<string, Float32Array>();
    for (const spec of parameterSpecs(config)) {
      weights.set(spec.name, initialValues(spec, rng));
    }
    return new Transformer(config, weights);
  }

  /**
   * A model from named weights (e.g. a checkpoint); every parameter must be present with its shape, except
   * adapters, which are initialised from `adapterRng` when missing (the start of an adapter stage).
   */
  static fromWeights(config: ModelConfig, weights: Map<string, Float32Array>, adapterRng?: Rng): Transformer {
    const missing = parameterSpecs(config).filter((s) => s.kind === "adapter" && !weights.has(s.name));
    if (missing.length && adapterRng) {
      weights = new Map(weights);
      for (const spec of missing) weights.set(spec.name, initialValues(spec, adapterRng));
    }
    return new Transformer(config, weights);
  }

  /** Names of the adapter factors (empty without adapters). */
  get adapterNames(): string[] {
    return this.specs.filter((s) => s.kind === "adapter").map((s) => s.name);
  }

  param(name: string): tf.Variable {
    const p = this.params.get(name);
    if (!p) throw new Error(`no parameter named '${name}'`);
    return p;
  }

  /** Total parameter count. */
  get size(): number {
    return this.specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  }

  /** Copies of all weights by name. */
  getWeights(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [name, v] of this.params) out.set(name, (v.dataSync() as Float32Array).slice());
    return out;
  }

  /** Overwrite weights in place (all or some parameters). */
  setWeights(weights: Map<string, Float32Array>): void {
    tf.tidy(() => {
      for (const [name, data] of weights) {
        const v = this.param(name);
        v.assign(tf.tensor(data, v.shape, "float32"));
      }
    });
  }

  private tables(seqLen: number) {
    let t = this.ropeCache.get(seqLen);
    if (!t) {
      const hd = this.config.dModel / this.config.nHeads;
      // Built outside any caller's tidy scope (tf.keep) because they are cached across steps.
      const tables = ropeTables(seqLen, this.config.nHeads, hd, ropeSpec(this.config));
      const mask = tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([seqLen, seqLen]), -1, 0)), -1e9) as tf.Tensor2D);
      t = { cos: tf.keep(tables.cos), sin: tf.keep(tables.sin), rot: tf.keep(tables.rot), rotT: tf.keep(tables.rotT), mask: tf.keep(mask) };
      this.ropeCache.set(seqLen, t);
    }
    return t;
  }

  /** Final hidden states [B*T, D] for token ids laid out [B, T]. Call inside tf.tidy. */
  hidden(ids: Int32Array, batch: number, seqLen: number): tf.Tensor2D {
    const { dModel: D, nHeads: H, nLayers: L, normEps: eps } = this.config;
    const hd = D / H;
    const N = batch * seqLen;
    const rt = this.tables(seqLen);
    const toHeads = (x: tf.Tensor2D) =>
      tf.reshape(tf.transpose(tf.reshape(x, [batch, seqLen, H, hd]), [0, 2, 1, 3]), [batch * H, seqLen, hd]) as tf.Tensor3D;
    const fused = nativeKernelsActive();
    let x = embedding(this.param("embed.weight") as tf.Tensor2D, ids);
    for (let i = 0; i < L; i++) {
      const p = `blocks.${i}`;
      const { q, k, v } = this.queriesKeysValues(x, p);
      const qr = applyRope(tf.reshape(q, [batch, seqLen, D]), rt.cos, rt.sin, rt.rot, rt.rotT);
      const kr = applyRope(tf.reshape(k, [batch, seqLen, D]), rt.cos, rt.sin, rt.rot, rt.rotT);
      const merged = fused
        ? (tf.reshape(fusedCausalAttention(qr, kr, tf.reshape(v, [batch, seqLen, D]), H), [N, D]) as tf.Tensor2D)
        : (tf.reshape(
            tf.transpose(tf.reshape(causalAttention(toHeads(tf.reshape(qr, [N, D])), toHeads(tf.reshape(kr, [N, D])), toHeads(v), rt.mask), [batch, H, seqLen, hd]), [0, 2, 1, 3]),
            [N, D],
          ) as tf.Tensor2D);
      x = this.mlpResidual(tf.add(x, this.project(merged, `${p}.attn.wo`)), p);
    }
    return rmsNorm(x, this.param("norm.weight") as tf.Tensor1D, eps);
  }

  /**
   * An incremental decoder with a key/value cache for `rows` sequences of up to `maxLen` tokens: feed the
   * prompts (n tokens per row), then one token per row at a time; each feed returns the next-token
   * log-probabilities [rows, V] at the rows' last position. Inference only (no gradients). It computes
   * what hidden() computes over the whole prefix (tested to 1e-4), with O(1) tokens of work per step
   * instead of O(prefix). Dispose it when done.
   */
  decoder(rows: number, maxLen: number): Decoder {
    const { dModel: D, nHeads: H, nLayers: L, normEps: eps } = this.config;
    const hd = D / H;
    const rt = this.tables(maxLen);
    const keys: (tf.Tensor4D | undefined)[] = new Array(L).fill(undefined);
    const values: (tf.Tensor4D | undefined)[] = new Array(L).fill(undefined);
    let pos = 0;
    const feed = (ids: Int32Array, n: number): Float32Array => {
      if (pos + n > maxLen) throw new Error(`decoder: ${pos + n} tokens exceed its maxLen ${maxLen}`);
      const out = tf.tidy(() => {
        const N = rows * n;
        const cos = tf.slice(rt.cos, [pos, 0], [n, D]) as tf.Tensor2D;
        const sin = tf.slice(rt.sin, [pos, 0], [n, D]) as tf.Tensor2D;
        const heads = (x: tf.Tensor2D) => tf.transpose(tf.reshape(x, [rows, n, H, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
        const total = pos + n;
        // Query i (at position pos + i) sees keys 0..pos + i.
        const mask = n > 1 ? tf.tensor2d(Float32Array.from({ length: n * total }, (_, j) => (j % total <= pos + Math.floor(j / total) ? 0 : -1e9)), [n, total]) : undefined;
        let x = embedding(this.param("embed.weight") as tf.Tensor2D, ids);
        for (let i = 0; i < L; i++) {
          const p = `blocks.${i}`;
          const { q, k, v } = this.queriesKeysValues(x, p);
          const qr = applyRope(tf.reshape(q, [rows, n, D]), cos, sin, rt.rot, rt.rotT);
          const kr = applyRope(tf.reshape(k, [rows, n, D]), cos, sin, rt.rot, rt.rotT);
          const kNew = heads(tf.reshape(kr, [N, D]) as tf.Tensor2D);
          const vNew = heads(v);
          const kAll = keys[i] ? (tf.concat([keys[i]!, kNew], 2) as tf.Tensor4D) : kNew;
          const vAll = values[i] ? (tf.concat([values[i]!, vNew], 2) as tf.Tensor4D) : vNew;
          keys[i]?.dispose();
          values[i]?.dispose();
          keys[i] = tf.keep(kAll);
          values[i] = tf.keep(vAll);
          let scores = tf.mul(tf.matMul(heads(tf.reshape(qr, [N, D]) as tf.Tensor2D), kAll, false, true), 1 / Math.sqrt(hd));
          if (mask) scores = tf.add(scores, mask);
          const o = tf.matMul(tf.softmax(scores), vAll); // [rows, H, n, hd]
          const merged = tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [N, D]) as tf.Tensor2D;
          x = this.mlpResidual(tf.add(x, this.project(merged, `${p}.attn.wo`)), p);
        }
        const last = tf.gather(x, Array.from({ length: rows }, (_, r) => r * n + n - 1)) as tf.Tensor2D;
        const hidden = rmsNorm(last, this.param("norm.weight") as tf.Tensor1D, eps);
        return tf.logSoftmax(this.logits(hidden)).dataSync() as Float32Array;
      });
      pos += n;
      return out;
    };
    return {
      feed,
      get length() {
        return pos;
      },
      dispose: () => {
        for (const t of [...keys, ...values]) t?.dispose();
      },
    };
  }

  /** Pre-norm queries, keys and values [N, D] of block `p` (qk-norm applied per head when configured). */
  private queriesKeysValues(x: tf.Tensor2D, p: string): { q: tf.Tensor2D; k: tf.Tensor2D; v: tf.Tensor2D } {
    const { dModel: D, nHeads: H, normEps: eps } = this.config;
    const N = x.shape[0];
    const h = rmsNorm(x, this.param(`${p}.norm1.weight`) as tf.Tensor1D, eps);
    let q = this.project(h, `${p}.attn.wq`);
    let k = this.repeatKv(this.project(h, `${p}.attn.wk`));
    const v = this.repeatKv(this.project(h, `${p}.attn.wv`));
    if (this.config.qkNorm) {
      q = tf.reshape(rmsNorm(tf.reshape(q, [N, H, D / H]), this.param(`${p}.attn.qNorm.weight`) as tf.Tensor1D, eps), [N, D]);
      k = tf.reshape(rmsNorm(tf.reshape(k, [N, H, D / H]), this.param(`${p}.attn.kNorm.weight`) as tf.Tensor1D, eps), [N, D]);
    }
    return { q, k, v };
  }

  /**
   * Grouped-query attention: keys or values [N, nKvHeads * hd] repeated to [N, nHeads * hd], query head h
   * reading key/value head floor(h / (nHeads / nKvHeads)) (Hugging Face's repeat_kv). Identity without GQA.
   */
  private repeatKv(x: tf.Tensor2D): tf.Tensor2D {
    const { dModel: D, nHeads: H } = this.config;
    const kv = kvHeads(this.config);
    if (kv === H) return x;
    const N = x.shape[0];
    return tf.reshape(tf.tile(tf.reshape(x, [N, kv, 1, D / H]), [1, 1, H / kv, 1]), [N, D]);
  }

  /** x + MLP(RMSNorm(x)) for block `p`. */
  private mlpResidual(x: tf.Tensor2D, p: string): tf.Tensor2D {
    const h = rmsNorm(x, this.param(`${p}.norm2.weight`) as tf.Tensor1D, this.config.normEps);
    if (this.config.arch === "llama") return tf.add(x, this.project(swiglu(this.project(h, `${p}.mlp.gate`), this.project(h, `${p}.mlp.up`)), `${p}.mlp.down`));
    return tf.add(x, this.project(geluTanh(this.project(h, `${p}.mlp.w1`)), `${p}.mlp.w2`));
  }

  /** x W for the named matrix, plus its adapter's (alpha / r) (x A) B when it has one. */
  private project(x: tf.Tensor2D, name: string): tf.Tensor2D {
    const y = linear(x, this.param(name) as tf.Tensor2D);
    const a = this.params.get(name + ADAPTER_A);
    if (!a) return y;
    const scale = this.config.adapters!.alpha / this.config.adapters!.rank;
    const low = linear(linear(x, a as tf.Tensor2D), this.param(name + ADAPTER_B) as tf.Tensor2D);
    return tf.add(y, tf.mul(low, scale));
  }

  /** Logits [N, V] from final hidden states [N, D]. */
  logits(hidden: tf.Tensor2D): tf.Tensor2D {
    if (this.config.tiedEmbeddings) return linear(hidden, tf.transpose(this.param("embed.weight")) as tf.Tensor2D);
    return this.project(hidden, "head.weight");
  }

  /** Forward pass with the LM loss for inputs and targets laid out [B, T]. Call inside tf.tidy. */
  forward(inputs: Int32Array, targets: Int32Array, batch: number, seqLen: number): ForwardResult {
    const hidden = this.hidden(inputs, batch, seqLen);
    const logits = this.logits(hidden);
    const tokenLoss = crossEntropy(logits, targets);
    const lmLoss = tf.mean(tokenLoss) as tf.Scalar;
    let zLoss: tf.Scalar | undefined;
    if (this.config.zLoss > 0) {
      zLoss = tf.mul(this.config.zLoss, tf.mean(tf.square(tf.logSumExp(logits, -1)))) as tf.Scalar;
    }
    return { lmLoss, tokenLoss, zLoss, hidden };
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    for (const t of this.ropeCache.values()) tf.dispose([t.cos, t.sin, t.rot, t.rotT, t.mask]);
    this.ropeCache.clear();
  }
}

/**
 * Fold every adapter into its matrix, W + (alpha / r) A B (in float64, rounded once), and drop the
 * adapters from the config: the plain model that computes what the adapted one computes.
 */
export function foldAdapters(config: ModelConfig, weights: Map<string, Float32Array>): { config: ModelConfig; weights: Map<string, Float32Array> } {
  const plain: ModelConfig = { ...config, adapters: null };
  const out = new Map<string, Float32Array>();
  const scale = config.adapters ? config.adapters.alpha / config.adapters.rank : 0;
  for (const spec of parameterSpecs(plain)) {
    const w = weights.get(spec.name);
    if (!w) throw new ConfigError(`missing weights for parameter '${spec.name}'`);
    const a = weights.get(spec.name + ADAPTER_A);
    const b = weights.get(spec.name + ADAPTER_B);
    if (!a || !b) {
      out.set(spec.name, w.slice());
      continue;
    }
    const [din, dout] = spec.shape as [number, number];
    const r = a.length / din;
    const merged = new Float32Array(w.length);
    for (let i = 0; i < din; i++) {
      for (let j = 0; j < dout; j++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += a[i * r + k]! * b[k * dout + j]!;
        merged[i * dout + j] = w[i * dout + j]! + scale * acc;
      }
    }
    out.set(spec.name, merged);
  }
  return { config: plain, weights: out };
}

/** The initial values of a parameter: N(0, std) from `rng`, norm gains at 1, zero where std is 0. */
export function initialValues(spec: ParamSpec, rng: Rng): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  if (spec.kind === "norm") data.fill(1);
  else if (spec.initStd > 0) for (let i = 0; i < n; i++) data[i] = rng.normal() * spec.initStd;
  return data;
}

let counter = 0;
function uid(): number {
  return counter++;
}

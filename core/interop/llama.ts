/**
 * mtx's llama architecture in Hugging Face's terms (LlamaForCausalLM): parameter names, layouts, and the
 * config.json fields, both ways. mtx stores matrices [in, out] (y = x W); Hugging Face and torch's Linear
 * store [out, in], so every projection is transposed on the way out and back. Embeddings ([V, D]) and
 * norm gains keep their layout. What Llama cannot express (the gelu MLP, qk-norm, a RoPE scaling
 * transformers does not implement) is refused with the field named.
 */
import type { LazyTensor } from "../checkpoint/safetensors.js";
import type { ModelConfig } from "../config/types.js";
import { ConfigError } from "../errors.js";
import { kvHeads } from "../model/architecture.js";
import { parameterSpecs } from "../model/Transformer.js";

/** mtx parameter name -> Hugging Face name, and whether the matrix is transposed between them. */
export function hfName(name: string): { hf: string; transpose: boolean } {
  const fixed: Record<string, string> = { "embed.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight", "head.weight": "lm_head.weight" };
  if (fixed[name]) return { hf: fixed[name]!, transpose: name === "head.weight" };
  const m = /^blocks\.(\d+)\.(.+)$/.exec(name);
  const parts: Record<string, string> = {
    "norm1.weight": "input_layernorm.weight",
    "norm2.weight": "post_attention_layernorm.weight",
    "attn.wq": "self_attn.q_proj.weight",
    "attn.wk": "self_attn.k_proj.weight",
    "attn.wv": "self_attn.v_proj.weight",
    "attn.wo": "self_attn.o_proj.weight",
    "mlp.gate": "mlp.gate_proj.weight",
    "mlp.up": "mlp.up_proj.weight",
    "mlp.down": "mlp.down_proj.weight",
  };
  const part = m ? parts[m[2]!] : undefined;
  if (!m || !part) throw new ConfigError(`parameter '${name}' has no Hugging Face Llama counterpart`);
  return { hf: `model.layers.${m[1]}.${part}`, transpose: !part.includes("layernorm") };
}

/** Transpose a row-major [rows, cols] matrix. */
export function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** Refuse what LlamaForCausalLM cannot run, naming the field and the way out. */
export function checkLlamaExportable(cfg: ModelConfig, format: string): void {
  if (cfg.arch !== "llama") throw new ConfigError(`model.arch is "${cfg.arch}": ${format} has no architecture with mtx's non-gated GELU MLP; export a checkpoint of arch "llama" (the default for new models since 0.2)`);
  if (cfg.qkNorm) throw new ConfigError(`model.qkNorm is on: Llama has no query/key norms, so ${format} cannot hold this model`);
  if (cfg.adapters) throw new ConfigError(`the checkpoint has low-rank adapters: merge them first (mtx merge --checkpoint DIR --out MERGED)`);
}

/** Hugging Face's rope_scaling for mtx's RoPE settings (undefined: plain RoPE). */
export function hfRopeScaling(cfg: ModelConfig): Record<string, unknown> | undefined {
  const r = cfg.rope;
  const type = r?.type ?? "none";
  if (type === "none") return undefined;
  const factor = r?.factor ?? 1;
  const original = r?.originalContext ?? cfg.contextLength;
  if (type === "linear") return { rope_type: "linear", factor };
  if (type === "dynamic-ntk") return { rope_type: "dynamic", factor, original_max_position_embeddings: original };
  if (type === "yarn") return { rope_type: "yarn", factor, original_max_position_embeddings: original, beta_fast: 32, beta_slow: 1 };
  throw new ConfigError(`model.rope.type "${type}" (static NTK-aware scaling) has no Hugging Face rope_scaling; fold it into rope.base (base x factor^(d/(d-2))) and continue training, or keep the model in mtx`);
}

export function ropeBaseOf(cfg: ModelConfig): number {
  return cfg.rope?.base ?? cfg.ropeBase;
}

/** config.json of a LlamaForCausalLM holding `cfg`. */
export function hfConfig(cfg: ModelConfig, eosId: number): Record<string, unknown> {
  const scaling = hfRopeScaling(cfg);
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.dModel,
    intermediate_size: cfg.intermediate,
    num_hidden_layers: cfg.nLayers,
    num_attention_heads: cfg.nHeads,
    num_key_value_heads: kvHeads(cfg),
    head_dim: cfg.dModel / cfg.nHeads,
    hidden_act: "silu",
    max_position_embeddings: cfg.contextLength,
    rms_norm_eps: cfg.normEps,
    rope_theta: ropeBaseOf(cfg),
    ...(scaling ? { rope_scaling: scaling } : {}),
    tie_word_embeddings: cfg.tiedEmbeddings,
    attention_bias: false,
    mlp_bias: false,
    attention_dropout: 0,
    initializer_range: cfg.initStd,
    bos_token_id: eosId,
    eos_token_id: eosId,
    torch_dtype: "float32",
    use_cache: true,
  };
}

/**
 * The Hugging Face tensors ([out, in] matrices) of an mtx llama model, in parameter order, each read through
 * `weightOf` (and transposed) only when its data is asked for: an export holds one tensor at a time.
 */
export function hfTensorEntries(cfg: ModelConfig, weightOf: (name: string) => Float32Array): LazyTensor[] {
  return parameterSpecs(cfg).map((spec) => {
    const { hf, transpose: t } = hfName(spec.name);
    if (!t) return { name: hf, shape: spec.shape, data: () => weightOf(spec.name) };
    const [rows, cols] = spec.shape as [number, number];
    return { name: hf, shape: [cols, rows], data: () => transpose(weightOf(spec.name), rows, cols) };
  });
}

type Json = Record<string, unknown>;

/** The mtx model config of a Hugging Face Llama-family config.json; `file` names it in errors. */
export function modelConfigFromHf(c: Json, file: string): ModelConfig {
  const need = (key: string): number => {
    const v = c[key];
    if (typeof v !== "number" || !Number.isFinite(v)) throw new ConfigError(`${file}: '${key}' is ${v === undefined ? "missing" : JSON.stringify(v)}; a Llama config.json needs it as a number`);
    return v;
  };
  const type = c.model_type;
  if (type !== "llama" && type !== "mistral" && type !== "qwen2") {
    throw new ConfigError(`${file}: model_type ${JSON.stringify(type)} is not supported; mtx imports the Llama layout (model_type "llama"; "mistral" without sliding windows)`);
  }
  if (type === "qwen2" || c.attention_bias === true) throw new ConfigError(`${file}: 'attention_bias' is true (or model_type qwen2): mtx's models have no biases`);
  if (c.mlp_bias === true) throw new ConfigError(`${file}: 'mlp_bias' is true: mtx's models have no biases`);
  const act = c.hidden_act ?? "silu";
  if (act !== "silu") throw new ConfigError(`${file}: 'hidden_act' is ${JSON.stringify(act)}; the Llama MLP mtx runs is SwiGLU (silu)`);
  if (type === "mistral" && c.sliding_window != null) throw new ConfigError(`${file}: 'sliding_window' is ${JSON.stringify(c.sliding_window)}; mtx has no sliding-window attention (set it to null if the model never used it)`);
  const D = need("hidden_size");
  const H = need("num_attention_heads");
  const headDim = c.head_dim ?? D / H;
  if (headDim !== D / H) throw new ConfigError(`${file}: 'head_dim' ${headDim} differs from hidden_size / num_attention_heads (${D / H}); mtx needs them equal`);
  const params = (c.rope_parameters ?? {}) as Json;
  const scaling = (c.rope_scaling ?? (params.rope_type && params.rope_type !== "default" ? params : null)) as Json | null;
  const theta = (c.rope_theta ?? params.rope_theta ?? 10000) as number;
  const contextLength = need("max_position_embeddings");
  let rope: ModelConfig["rope"];
  if (scaling) {
    const kind = (scaling.rope_type ?? scaling.type) as string;
    const factor = scaling.factor as number;
    const original = (scaling.original_max_position_embeddings as number | undefined) ?? contextLength;
    const map: Record<string, "linear" | "dynamic-ntk" | "yarn"> = { linear: "linear", dynamic: "dynamic-ntk", yarn: "yarn" };
    if (!map[kind]) throw new ConfigError(`${file}: rope_scaling type ${JSON.stringify(kind)} is not supported (mtx runs linear, dynamic and yarn)`);
    if (kind === "yarn" && ((scaling.beta_fast ?? 32) !== 32 || (scaling.beta_slow ?? 1) !== 1 || scaling.mscale != null || scaling.attention_factor != null)) {
      throw new ConfigError(`${file}: rope_scaling yarn with custom beta_fast, beta_slow, mscale or attention_factor is not supported`);
    }
    rope = { type: map[kind]!, base: theta, factor, originalContext: original };
  }
  return {
    arch: "llama",
    vocabSize: need("vocab_size"),
    dModel: D,
    intermediate: need("intermediate_size"),
    nLayers: need("num_hidden_layers"),
    nHeads: H,
    nKvHeads: (c.num_key_value_heads as number | undefined) ?? H,
    contextLength,
    ropeBase: theta,
    ...(rope ? { rope } : {}),
    qkNorm: false,
    zLoss: 0,
    tiedEmbeddings: c.tie_word_embeddings === true,
    normEps: (c.rms_norm_eps as number | undefined) ?? 1e-6,
    initStd: (c.initializer_range as number | undefined) ?? 0.02,
  };
}


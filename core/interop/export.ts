/**
 * `mtx export`: a checkpoint out through the ecosystem's two doors.
 *
 * - `hf`: a directory Hugging Face transformers loads as LlamaForCausalLM without custom code: config.json,
 *   model.safetensors (Hugging Face names, [out, in] matrices), tokenizer.json, tokenizer_config.json,
 *   generation_config.json, and mtx.json (where it came from).
 * - `gguf`: one file llama.cpp loads as its `llama` architecture: the model's hyperparameters, the byte-level
 *   BPE vocabulary, merges and special tokens in the metadata, Q and K rows permuted into llama.cpp's rotary
 *   layout (adjacent pairs where Hugging Face rotates halves), tensors in F32, F16 or Q8_0.
 *
 * Both are written next to their destination and renamed into place when complete. Weights and tokenizer
 * leave; optimizer moments, plugin state and the data cursor stay in the mtx checkpoint.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { openCheckpointWeights, type CheckpointState } from "../checkpoint/Checkpoint.js";
import { writeSafetensorsFile, type StoredDtype } from "../checkpoint/safetensors.js";
import type { ModelConfig } from "../config/types.js";
import { EOS_TOKEN } from "../data/tokenizer/Tokenizer.js";
import type { TokenizerJson } from "../data/tokenizer/trainBpe.js";
import { ConfigError } from "../errors.js";
import { ensureWritableDir, rethrowStorage, writeFileAtomic } from "../io/files.js";
import { kvHeads } from "../model/architecture.js";
import { parameterCount } from "../model/memory.js";
import { foldAdapters } from "../model/Transformer.js";
import { packageVersion } from "../paths.js";
import { writeGguf, type GgufTensor, type GgufTensorType, type GgufValue } from "./gguf.js";
import { checkLlamaExportable, hfConfig, hfTensorEntries, ropeBaseOf } from "./llama.js";

export type ExportFormat = "hf" | "gguf";

export interface ExportResult {
  format: ExportFormat;
  out: string;
  bytes: number;
  parameters: number;
  dtype: string;
  /** Adapters folded into the weights on the way out. */
  mergedAdapters: boolean;
}

/**
 * The checkpoint's plain model (exports carry no adapters): its tensors are read one at a time, when written,
 * so a model need not fit in memory and its files may pass 2 GiB; adapters, when present, are folded in
 * memory first.
 */
interface ExportSource {
  config: ModelConfig;
  state: CheckpointState;
  tokenizerJson: TokenizerJson;
  weightOf: (name: string) => Float32Array;
  parameters: number;
  merged: boolean;
}

function openSource(dir: string): ExportSource {
  const ck = openCheckpointWeights(dir);
  const { state, tokenizerJson } = ck;
  if (!state.model.adapters) return { config: state.model, state, tokenizerJson, weightOf: (name) => ck.read(name), parameters: parameterCount(state.model), merged: false };
  const { config, weights } = foldAdapters(state.model, new Map(ck.names.map((name) => [name, ck.read(name)])));
  return { config, state, tokenizerJson, weightOf: (name) => weights.get(name)!, parameters: parameterCount(config), merged: true };
}

/** `--out` must be new (or an empty directory) in a folder mtx may write to, which is created if missing. */
function checkOut(out: string): void {
  if (existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length > 0)) {
    throw new ConfigError(`--out ${out} already exists; choose a new path or remove it first`);
  }
  ensureWritableDir(dirname(out), "--out's folder");
}

function eosIdOf(ck: ExportSource): number {
  const id = ck.tokenizerJson.model.vocab[EOS_TOKEN];
  if (id === undefined) throw new ConfigError(`the checkpoint's tokenizer has no '${EOS_TOKEN}' token`);
  return id;
}

function provenance(dir: string, ck: ExportSource): Record<string, unknown> {
  return { exportedBy: `mtx ${packageVersion()}`, checkpoint: dir, step: ck.state.step, tokens: ck.state.tokens, tag: ck.state.tag, engine: ck.state.engine ?? ck.state.backend, createdAt: ck.state.createdAt };
}

export function exportHf(checkpointDir: string, out: string, opts: { dtype?: "F32" | "BF16" } = {}): ExportResult {
  checkOut(out);
  const ck = openSource(checkpointDir);
  const { config } = ck;
  checkLlamaExportable(config, "Hugging Face transformers' LlamaForCausalLM");
  const eos = eosIdOf(ck);
  const dtype: StoredDtype = opts.dtype ?? "F32";
  const tensors = hfTensorEntries(config, ck.weightOf);
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    mkdirSync(tmp, { recursive: true });
    writeSafetensorsFile(join(tmp, "model.safetensors"), tensors, { format: "pt" }, dtype);
    writeFileAtomic(join(tmp, "config.json"), JSON.stringify({ ...hfConfig(config, eos), torch_dtype: dtype === "BF16" ? "bfloat16" : "float32" }, null, 2) + "\n");
    writeFileAtomic(join(tmp, "tokenizer.json"), JSON.stringify(ck.tokenizerJson));
    writeFileAtomic(
      join(tmp, "tokenizer_config.json"),
      JSON.stringify({ tokenizer_class: "PreTrainedTokenizerFast", bos_token: EOS_TOKEN, eos_token: EOS_TOKEN, pad_token: EOS_TOKEN, add_bos_token: false, add_eos_token: false, model_max_length: config.contextLength, clean_up_tokenization_spaces: false }, null, 2) + "\n",
    );
    writeFileAtomic(join(tmp, "special_tokens_map.json"), JSON.stringify({ bos_token: EOS_TOKEN, eos_token: EOS_TOKEN, pad_token: EOS_TOKEN }, null, 2) + "\n");
    writeFileAtomic(join(tmp, "generation_config.json"), JSON.stringify({ bos_token_id: eos, eos_token_id: eos, pad_token_id: eos }, null, 2) + "\n");
    writeFileAtomic(join(tmp, "mtx.json"), JSON.stringify(provenance(checkpointDir, ck), null, 2) + "\n");
    if (existsSync(out)) rmSync(out, { recursive: true });
    renameSync(tmp, out);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    rethrowStorage(error, out, "write");
  }
  const bytes = readdirSync(out).reduce((a, f) => a + statSync(join(out, f)).size, 0);
  return { format: "hf", out, bytes, parameters: ck.parameters, dtype, mergedAdapters: ck.merged };
}

/**
 * Hugging Face's rotate-half rows of a Q or K projection ([heads * hd, in]) reordered for llama.cpp, which
 * rotates adjacent pairs: within each head, row j * hd/2 + i moves to 2 i + j (convert_hf_to_gguf's permute).
 */
export function permuteForGguf(w: Float32Array, heads: number, cols: number): Float32Array {
  const rows = w.length / cols;
  const hd = rows / heads;
  const half = hd / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const from = h * hd + j * half + i;
        const to = h * hd + 2 * i + j;
        out.set(w.subarray(from * cols, (from + 1) * cols), to * cols);
      }
    }
  }
  return out;
}

const FILE_TYPE: Record<GgufTensorType, number> = { F32: 0, F16: 1, Q8_0: 7 };

/** llama.cpp's GGUF tensor name of a Hugging Face Llama tensor. */
function ggufName(hf: string): string {
  const fixed: Record<string, string> = { "model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight" };
  if (fixed[hf]) return fixed[hf]!;
  const m = /^model\.layers\.(\d+)\.(.+)\.weight$/.exec(hf)!;
  const parts: Record<string, string> = {
    input_layernorm: "attn_norm",
    post_attention_layernorm: "ffn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
  };
  return `blk.${m[1]}.${parts[m[2]!]}.weight`;
}

function ggufRope(cfg: ModelConfig): [string, GgufValue][] {
  const type = cfg.rope?.type ?? "none";
  if (type === "none") return [];
  if (type !== "linear" && type !== "yarn") throw new ConfigError(`model.rope.type "${type}" has no llama.cpp equivalent (it runs linear and yarn); export --format hf instead`);
  return [
    ["llama.rope.scaling.type", { type: "string", value: type }],
    ["llama.rope.scaling.factor", { type: "f32", value: cfg.rope?.factor ?? 1 }],
    ["llama.rope.scaling.original_context_length", { type: "u32", value: cfg.rope?.originalContext ?? cfg.contextLength }],
  ];
}

export function exportGguf(checkpointDir: string, out: string, opts: { type?: GgufTensorType } = {}): ExportResult {
  checkOut(out);
  const type = opts.type ?? "F32";
  const ck = openSource(checkpointDir);
  const { config } = ck;
  checkLlamaExportable(config, "llama.cpp's llama architecture");
  const eos = eosIdOf(ck);
  const hd = config.dModel / config.nHeads;
  const tok = ck.tokenizerJson;
  const tokens = Object.entries(tok.model.vocab).sort((a, b) => a[1] - b[1]).map(([t]) => t);
  if (tokens.length !== config.vocabSize) throw new ConfigError(`the tokenizer has ${tokens.length} tokens but the model's vocabSize is ${config.vocabSize}; llama.cpp needs one token per row of the embedding`);
  const special = new Set(tok.added_tokens.filter((t) => t.special).map((t) => t.id));
  const merges = (tok.model.merges as (string | [string, string])[]).map((m) => (Array.isArray(m) ? m.join(" ") : m));
  const metadata: [string, GgufValue][] = [
    ["general.architecture", { type: "string", value: "llama" }],
    ["general.name", { type: "string", value: `mtx ${basename(checkpointDir)}` }],
    ["general.file_type", { type: "u32", value: FILE_TYPE[type] }],
    ["llama.vocab_size", { type: "u32", value: config.vocabSize }],
    ["llama.context_length", { type: "u32", value: config.contextLength }],
    ["llama.embedding_length", { type: "u32", value: config.dModel }],
    ["llama.block_count", { type: "u32", value: config.nLayers }],
    ["llama.feed_forward_length", { type: "u32", value: config.intermediate! }],
    ["llama.attention.head_count", { type: "u32", value: config.nHeads }],
    ["llama.attention.head_count_kv", { type: "u32", value: kvHeads(config) }],
    ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: config.normEps }],
    ["llama.rope.freq_base", { type: "f32", value: ropeBaseOf(config) }],
    ["llama.rope.dimension_count", { type: "u32", value: hd }],
    ...ggufRope(config),
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    // HF's ByteLevel pre-tokenizer with use_regex splits with GPT-2's pattern, which llama.cpp calls gpt-2.
    ["tokenizer.ggml.pre", { type: "string", value: "gpt-2" }],
    ["tokenizer.ggml.tokens", { type: "string[]", value: tokens }],
    ["tokenizer.ggml.token_type", { type: "i32[]", value: tokens.map((_, id) => (special.has(id) ? 3 : 1)) }],
    ["tokenizer.ggml.merges", { type: "string[]", value: merges }],
    ["tokenizer.ggml.bos_token_id", { type: "u32", value: eos }],
    ["tokenizer.ggml.eos_token_id", { type: "u32", value: eos }],
    ["tokenizer.ggml.padding_token_id", { type: "u32", value: eos }],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: false }],
  ];
  const tensors: GgufTensor[] = hfTensorEntries(config, ck.weightOf).map((t) => {
    const heads = t.name.endsWith("q_proj.weight") ? config.nHeads : t.name.endsWith("k_proj.weight") ? kvHeads(config) : 0;
    const data = heads ? () => permuteForGguf(t.data(), heads, t.shape[1]!) : t.data;
    // Norm gains stay F32 (llama.cpp's converters keep 1-D tensors in F32).
    return { name: ggufName(t.name), shape: t.shape, data, type: t.shape.length === 1 ? "F32" : type };
  });
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  try {
    const { bytes } = writeGguf(tmp, metadata, tensors);
    renameSync(tmp, out);
    return { format: "gguf", out, bytes, parameters: ck.parameters, dtype: type, mergedAdapters: ck.merged };
  } catch (error) {
    rmSync(tmp, { force: true });
    rethrowStorage(error, out, "write");
  }
}

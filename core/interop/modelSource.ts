/**
 * Where a model comes from, as `--from`, `--checkpoint`, `--baseline` and plugin options name it:
 *
 * - `bundled`: the base model shipped with mtx;
 * - a directory: an mtx checkpoint;
 * - `openai:URL[#model]`: an OpenAI-compatible endpoint (probes and gates only; engine/openai);
 * - `hf:DIR`: a Hugging Face Llama-family directory (config.json, model.safetensors or shards with their
 *   index, tokenizer.json). It is converted once into an mtx checkpoint in mtx's cache (`$MTX_CACHE`, else
 *   `~/.cache/mtx`), keyed by the files' paths, sizes and times, and read from there like any checkpoint.
 *   Hugging Face directories carry no optimizer moments: a run from one starts fresh moments and records it.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { CHECKPOINT_FORMAT, verifyCheckpoint, writeCheckpointOfTensors, type CheckpointState } from "../checkpoint/Checkpoint.js";
import { readSafetensorsHeaderFile, readTensorFromFile, type LazyTensor, type TensorEntry } from "../checkpoint/safetensors.js";
import type { ModelConfig } from "../config/types.js";
import { Tokenizer } from "../data/tokenizer/Tokenizer.js";
import type { TokenizerJson } from "../data/tokenizer/trainBpe.js";
import type { ProbeTarget } from "../engine/Engine.js";
import { parseEndpoint } from "../engine/openai/OpenAiModel.js";
import { CheckpointError, ConfigError } from "../errors.js";
import { parameterSpecs, validateModelConfig } from "../model/Transformer.js";
import { BUNDLED_BASE, packageVersion } from "../paths.js";
import { hfName, modelConfigFromHf, transpose } from "./llama.js";

export const HF_PREFIX = "hf:";

export function isHfSource(spec: string): boolean {
  return spec.startsWith(HF_PREFIX);
}

/** `openai:URL` names an OpenAI-compatible endpoint rather than weights. */
export function isEndpointSource(spec: string): boolean {
  return spec.startsWith("openai:");
}

/**
 * Where probes read a model source: an endpoint (`openai:URL[#model]`, with `tokenizer` naming its
 * tokenizer when the server does not publish one: a tokenizer.json, a directory holding one, or any model
 * source) or a checkpoint directory.
 */
export function resolveProbeTarget(spec: string, opts: { tokenizer?: string } = {}): ProbeTarget {
  if (isEndpointSource(spec)) return resolveEndpoint(spec, opts);
  if (opts.tokenizer) throw new ConfigError("--tokenizer applies to openai: endpoints only (a checkpoint brings its own tokenizer)");
  return { kind: "checkpoint", dir: resolveModelSource(spec) };
}

/** An `openai:URL[#model]` source, with the tokenizer `opts.tokenizer` names when the server publishes none. */
export function resolveEndpoint(spec: string, opts: { tokenizer?: string } = {}): Extract<ProbeTarget, { kind: "endpoint" }> {
  return { kind: "endpoint", ...parseEndpoint(spec), ...(opts.tokenizer ? { tokenizerJson: readTokenizerSource(opts.tokenizer) } : {}) };
}

function readTokenizerSource(spec: string): unknown {
  const path = resolve(spec.startsWith(HF_PREFIX) ? spec.slice(HF_PREFIX.length) : spec === "bundled" ? BUNDLED_BASE : spec);
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, "tokenizer.json") : path;
  return readJson(file, "tokenizer.json");
}

/** The mtx checkpoint directory a model source names (an `hf:` directory converted on first use). */
export function resolveModelSource(spec: string): string {
  if (spec === "bundled") return BUNDLED_BASE;
  if (isEndpointSource(spec)) throw new ConfigError(`'${spec}' is an endpoint: this command needs weights (a checkpoint directory, 'bundled' or hf:DIR)`);
  if (isHfSource(spec)) return importedCheckpoint(resolve(spec.slice(HF_PREFIX.length)));
  return resolve(spec);
}

function cacheRoot(): string {
  return resolve(process.env.MTX_CACHE ?? join(homedir(), ".cache", "mtx"));
}

function readJson(path: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new CheckpointError(`${path}: missing or unreadable; a Hugging Face model directory needs its ${what}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new CheckpointError(`${path}: not valid JSON (${(cause as Error).message})`, { cause });
  }
}

/** The weight files of a Hugging Face directory: model.safetensors, or the shards its index names. */
function weightFiles(dir: string): string[] {
  const single = join(dir, "model.safetensors");
  if (existsSync(single)) return [single];
  const indexPath = join(dir, "model.safetensors.index.json");
  if (!existsSync(indexPath)) {
    const bin = readdirSync(dir).some((f) => f.endsWith(".bin"));
    throw new CheckpointError(`${dir}: no model.safetensors or model.safetensors.index.json${bin ? " (PyTorch .bin weights are not read: save with safe_serialization=True)" : ""}`);
  }
  const index = readJson(indexPath, "shard index");
  const map = index.weight_map as Record<string, string> | undefined;
  if (!map || typeof map !== "object") throw new CheckpointError(`${indexPath}: 'weight_map' is missing`);
  const files = [...new Set(Object.values(map))].map((f) => join(dir, f));
  for (const f of files) if (!existsSync(f)) throw new CheckpointError(`${indexPath}: names shard '${f}', which does not exist`);
  return files;
}

/** Where a directory's conversion is cached: a hash of its files' names, sizes and modification times. */
function cacheKey(dir: string): string {
  const h = createHash("sha256").update(dir);
  for (const f of readdirSync(dir).sort()) {
    const s = statSync(join(dir, f));
    if (s.isFile()) h.update(`\n${f} ${s.size} ${s.mtimeMs}`);
  }
  return h.digest("hex").slice(0, 24);
}

function importedCheckpoint(dir: string): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ConfigError(`hf:${dir}: not a directory`);
  const target = join(cacheRoot(), "hf", cacheKey(dir));
  if (existsSync(join(target, "manifest.json"))) {
    try {
      verifyCheckpoint(target);
      return target;
    } catch {
      // A damaged cache entry: convert again (the write replaces it atomically).
    }
  }
  const { state, tensors, tokenizerJson } = importHf(dir);
  mkdirSync(dirname(target), { recursive: true });
  writeCheckpointOfTensors(target, state, tokenizerJson, tensors);
  return target;
}

/**
 * Read a Hugging Face Llama directory as mtx's model config, tokenizer and weights: every header is checked
 * now; each tensor's values are read (and transposed to mtx's layout) when it is asked for.
 */
export function importHf(dir: string): { state: CheckpointState; tensors: LazyTensor[]; tokenizerJson: TokenizerJson } {
  const configPath = join(dir, "config.json");
  const model: ModelConfig = modelConfigFromHf(readJson(configPath, "config.json"), configPath);
  try {
    validateModelConfig(model);
  } catch (cause) {
    throw new CheckpointError(`${configPath}: ${(cause as Error).message}`, { cause });
  }
  const tokenizerPath = join(dir, "tokenizer.json");
  const tokenizerJson = readJson(tokenizerPath, "tokenizer.json (a byte-level BPE tokenizer)") as unknown as TokenizerJson;
  try {
    new Tokenizer(tokenizerJson);
  } catch (cause) {
    throw new CheckpointError(`${tokenizerPath}: mtx cannot use this tokenizer: ${(cause as Error).message}`, { cause });
  }
  const vocab = Object.keys(tokenizerJson.model?.vocab ?? {}).length;
  if (vocab > model.vocabSize) throw new CheckpointError(`${tokenizerPath}: ${vocab} tokens, more than vocab_size ${model.vocabSize} in config.json`);

  // Every tensor mtx needs, by its Hugging Face name, with the shape config.json implies; checked from the
  // headers, then read one at a time when the checkpoint is written (shards pass 2 GiB, models pass memory).
  const wanted = new Map(parameterSpecs(model).map((s) => [hfName(s.name).hf, s]));
  const found = new Map<string, { file: string; dataStart: number; entry: TensorEntry }>();
  for (const file of weightFiles(dir)) {
    let header: ReturnType<typeof readSafetensorsHeaderFile>;
    try {
      header = readSafetensorsHeaderFile(file);
    } catch (cause) {
      if (cause instanceof CheckpointError) throw cause;
      throw new CheckpointError(`${file}: unreadable (${(cause as Error).message})`, { cause });
    }
    for (const e of header.entries) {
      const spec = wanted.get(e.name);
      if (!spec) {
        if (/rotary_emb\.inv_freq$/.test(e.name)) continue;
        if (e.name === "lm_head.weight" && model.tiedEmbeddings) continue;
        throw new CheckpointError(`${file}: tensor '${e.name}' has no place in a Llama model with this config.json (is model_type right?)`);
      }
      const { transpose: t } = hfName(spec.name);
      const expected = t ? [...spec.shape].reverse() : spec.shape;
      if (e.shape.join(",") !== expected.join(",")) throw new CheckpointError(`${file}: tensor '${e.name}' has shape [${e.shape}], but config.json implies [${expected}]`);
      found.set(spec.name, { file, dataStart: header.dataStart, entry: e });
    }
  }
  const missing = [...wanted].filter(([, s]) => !found.has(s.name)).map(([hf]) => hf);
  if (missing.length) throw new CheckpointError(`${dir}: the weights lack ${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ` and ${missing.length - 3} more` : ""}`);
  const tensors: LazyTensor[] = parameterSpecs(model).map((spec) => ({
    name: spec.name,
    shape: spec.shape,
    data: () => {
      const { file, dataStart, entry } = found.get(spec.name)!;
      const data = readTensorFromFile(file, dataStart, entry);
      return hfName(spec.name).transpose ? transpose(data, spec.shape[1]!, spec.shape[0]!) : data;
    },
  }));
  const state: CheckpointState = {
    format: CHECKPOINT_FORMAT,
    step: 0,
    tokens: 0,
    flops: 0,
    lr: 0,
    model,
    tag: "good",
    hasOptimizer: false,
    optimizerStep: 0,
    rng: {},
    dataCursor: null,
    plugins: {},
    config: { importedFrom: `hf:${dir}` },
    engine: "import: Hugging Face",
    backend: "import",
    versions: { mtx: packageVersion() },
    createdAt: new Date().toISOString(),
  };
  return { state, tensors, tokenizerJson };
}

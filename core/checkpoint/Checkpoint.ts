/**
 * Checkpoints: a directory per step with
 *   model.safetensors      weights by parameter name
 *   adapters.safetensors   low-rank adapter factors (`<matrix>.lora_a`, `.lora_b`), on their own, when the model has them
 *   optimizer.safetensors  AdamW moments (`m.<name>`, `v.<name>`), when kept
 *   tokenizer.json         the tokenizer, so a checkpoint is self-contained
 *   state.json             step, schedule, RNG states, data cursor, plugin states, config, provenance
 *   manifest.json          sha256 and size of every file above (written last)
 * A checkpoint is written into a temporary directory and renamed into place, so a crash mid-write never
 * leaves a half-written checkpoint that looks like the latest. Loading verifies every checksum and names
 * the bad file.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { ModelConfig } from "../config/types.js";
import { Tokenizer } from "../data/tokenizer/Tokenizer.js";
import type { TokenizerJson } from "../data/tokenizer/trainBpe.js";
import { CheckpointError, MtxError } from "../errors.js";
import { fsyncDir, removeQuietly, rethrowStorage, writeDurable } from "../io/files.js";
import { completeModelConfig } from "../model/architecture.js";
import { isAdapterParam, parameterSpecs, validateModelConfig } from "../model/Transformer.js";
import type { AdamWState } from "../optim/state.js";
import type { SavedRunState } from "../train/RunState.js";
import { PACKAGE_ROOT } from "../paths.js";
import { formatSchemaErrors, compileSchema } from "../schema.js";
import { encodeSafetensors, readSafetensorsHeaderFile, readTensorFromFile, writeSafetensorsFile, type LazyTensor, type NamedTensor, type StoredDtype, type TensorEntry } from "./safetensors.js";

export const CHECKPOINT_FORMAT = "mtx-checkpoint/1";

/** Guardrail status when the checkpoint was saved; rollbacks go to the last `good` one. */
export type CheckpointTag = "good" | "suspect" | "halted";

export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  step: number;
  /** Tokens and training FLOPs seen so far in this run's lineage. */
  tokens: number;
  flops: number;
  /** Learning rate of the last step (read by `peakLr: "from-checkpoint"`). */
  lr: number;
  model: ModelConfig;
  tag: CheckpointTag;
  reason?: string;
  hasOptimizer: boolean;
  optimizerStep: number;
  rng: Record<string, object>;
  dataCursor: Record<string, unknown> | null;
  plugins: Record<string, unknown>;
  /** The run's state besides tensors, RNGs, data and plugins (train/RunState.ts). */
  run?: SavedRunState;
  /** Checkpoints written before the run state was typed keep it here. */
  trainer?: Record<string, unknown>;
  /** The effective run config that produced it. */
  config: unknown;
  /** The engine that wrote it (`tfjs ...`, `torch ...`); the tensors' layout is the same for every engine. */
  engine?: string;
  backend: string;
  versions: Record<string, string>;
  createdAt: string;
}

export interface Manifest {
  format: typeof CHECKPOINT_FORMAT;
  step: number;
  files: Record<string, { sha256: string; bytes: number }>;
}

export interface CheckpointData {
  state: CheckpointState;
  weights: Map<string, Float32Array>;
  optimizer?: AdamWState;
  tokenizerJson: unknown;
}

export interface LoadedCheckpoint extends CheckpointData {
  dir: string;
  tokenizerJson: TokenizerJson;
}

export function stepDirName(step: number): string {
  return `step-${step}`;
}

/**
 * The tensor files of a checkpoint: model.safetensors, adapters.safetensors (when the model has adapters) and
 * optimizer.safetensors (AdamW m and v by parameter, the update count and moment start steps as metadata).
 */
export function encodeTensorFiles(model: ModelConfig, weights: Map<string, Float32Array>, optimizer: AdamWState | undefined, optimizerDtype: StoredDtype = "F32"): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const shapes = paramShapes(model);
  const shapeOf = (name: string, length: number) => shapes.get(name) ?? [length];
  const main = new Map<string, NamedTensor>();
  const adapters = new Map<string, NamedTensor>();
  for (const [name, w] of weights) (isAdapterParam(name) ? adapters : main).set(name, { shape: shapeOf(name, w.length), data: w });
  files.set("model.safetensors", encodeSafetensors(main, { format: "pt", producer: "mtx" }));
  if (adapters.size) {
    const a = model.adapters;
    files.set("adapters.safetensors", encodeSafetensors(adapters, { format: "pt", producer: "mtx", rank: String(a?.rank), alpha: String(a?.alpha), targets: JSON.stringify(a?.targets ?? []) }));
  }
  if (optimizer) {
    const opt = new Map<string, NamedTensor>();
    for (const [name, m] of optimizer.m) opt.set(`m.${name}`, { shape: shapeOf(name, m.length), data: m });
    for (const [name, v] of optimizer.v) opt.set(`v.${name}`, { shape: shapeOf(name, v.length), data: v });
    const born: Record<string, string> = optimizer.born?.size ? { born: JSON.stringify(Object.fromEntries(optimizer.born)) } : {};
    files.set("optimizer.safetensors", encodeSafetensors(opt, { step: String(optimizer.step), ...born }, optimizerDtype));
  }
  return files;
}

function paramShapes(cfg: ModelConfig): Map<string, number[]> {
  return new Map(parameterSpecs(cfg).map((p) => [p.name, p.shape]));
}

/**
 * Write `data` as `root/step-<N>` atomically and keep the newest `keepLast` checkpoints (plus the newest
 * one tagged `good`, which rollbacks need). Returns the checkpoint directory.
 */
export function saveCheckpoint(root: string, data: CheckpointData, opts: { keepLast?: number; optimizerDtype?: StoredDtype } = {}): string {
  mkdirSync(root, { recursive: true });
  const final = join(root, stepDirName(data.state.step));
  writeCheckpointDir(final, data, opts);
  if (opts.keepLast) pruneCheckpoints(root, opts.keepLast);
  return final;
}

/**
 * Write a checkpoint of in-memory weights as exactly `dir`, atomically: into a temporary sibling, fsynced,
 * then renamed over any previous `dir` (which stays intact until the new one is complete).
 */
export function writeCheckpointDir(dir: string, data: CheckpointData, opts: { optimizerDtype?: StoredDtype } = {}): void {
  const tmp = beginCheckpoint(dir);
  try {
    for (const [name, buf] of encodeTensorFiles(data.state.model, data.weights, data.optimizer, opts.optimizerDtype)) writeDurable(join(tmp, name), buf);
    finishCheckpoint(tmp, dir, { ...data.state, hasOptimizer: !!data.optimizer }, data.tokenizerJson);
  } catch (error) {
    failCheckpoint(error, tmp, dir);
  }
}

/**
 * Write a checkpoint whose tensor files another party writes (an engine, possibly in another process):
 * `writeTensors(tmp)` fills the temporary directory, then state, tokenizer and manifest follow and the
 * directory is renamed into place. Nothing is left behind on failure.
 */
export async function writeCheckpointWith(dir: string, state: CheckpointState, tokenizerJson: unknown, writeTensors: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = beginCheckpoint(dir);
  try {
    await writeTensors(tmp);
    finishCheckpoint(tmp, dir, { ...state, hasOptimizer: existsSync(join(tmp, "optimizer.safetensors")) }, tokenizerJson);
  } catch (error) {
    failCheckpoint(error, tmp, dir);
  }
}

/**
 * Write a checkpoint of plain weights (no adapters, no moments) read one tensor at a time, atomically: an
 * import of a model that should not sit in memory whole, or in one buffer.
 */
export function writeCheckpointOfTensors(dir: string, state: CheckpointState, tokenizerJson: unknown, tensors: LazyTensor[]): void {
  const tmp = beginCheckpoint(dir);
  try {
    writeSafetensorsFile(join(tmp, "model.safetensors"), tensors, { format: "pt", producer: "mtx" });
    finishCheckpoint(tmp, dir, { ...state, hasOptimizer: false }, tokenizerJson);
  } catch (error) {
    failCheckpoint(error, tmp, dir);
  }
}

/** Same as saveCheckpoint, for tensors written by `writeTensors`. */
export async function saveCheckpointWith(root: string, state: CheckpointState, tokenizerJson: unknown, writeTensors: (tmp: string) => Promise<void>, opts: { keepLast?: number } = {}): Promise<string> {
  try {
    mkdirSync(root, { recursive: true });
  } catch (error) {
    rethrowStorage(error, root, "create the directory");
  }
  const final = join(root, stepDirName(state.step));
  await writeCheckpointWith(final, state, tokenizerJson, writeTensors);
  if (opts.keepLast) pruneCheckpoints(root, opts.keepLast);
  return final;
}

function beginCheckpoint(dir: string): string {
  const root = dirname(dir);
  const tmp = join(root, `.tmp-${basename(dir)}-${process.pid}`);
  try {
    mkdirSync(root, { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
  } catch (error) {
    failCheckpoint(error, tmp, dir);
  }
  return tmp;
}

/** Tokenizer, state and the manifest of every file (written last), then the rename into place. */
function finishCheckpoint(tmp: string, dir: string, state: CheckpointState, tokenizerJson: unknown): void {
  writeDurable(join(tmp, "tokenizer.json"), JSON.stringify(tokenizerJson));
  writeDurable(join(tmp, "state.json"), JSON.stringify(state, null, 2));
  const manifest: Manifest = { format: CHECKPOINT_FORMAT, step: state.step, files: {} };
  // Hashed in chunks: an engine's optimizer file passes 2 GiB (one read's limit) from ~270 M parameters.
  for (const name of readdirSync(tmp).sort()) manifest.files[name] = hashFile(join(tmp, name));
  writeDurable(join(tmp, "manifest.json"), JSON.stringify(manifest, null, 2));
  fsyncDir(tmp);
  const root = dirname(dir);
  if (existsSync(dir)) {
    const old = join(root, `.old-${basename(dir)}-${process.pid}`);
    renameSync(dir, old);
    renameSync(tmp, dir);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, dir);
  }
  fsyncDir(root);
}

/** A failed write leaves nothing behind: no temporary directory, and the previous `dir` (if any) intact. */
function failCheckpoint(error: unknown, tmp: string, dir: string): never {
  removeQuietly(tmp);
  rethrowStorage(error, error instanceof MtxError ? dir : (error as { path?: string }).path ?? dir, "write the checkpoint");
}

/** Steps of the complete checkpoints under `root` (those with a manifest), ascending. */
export function listCheckpoints(root: string): number[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => !!m && existsSync(join(root, m[0], "manifest.json")))
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

function readTag(dir: string): CheckpointTag | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as CheckpointState).tag;
  } catch {
    return undefined;
  }
}

/** The newest checkpoint under `root` tagged `good`, if any. */
export function latestGoodCheckpoint(root: string): string | undefined {
  const steps = listCheckpoints(root);
  for (let i = steps.length - 1; i >= 0; i--) {
    const dir = join(root, stepDirName(steps[i]!));
    if (readTag(dir) === "good") return dir;
  }
  return undefined;
}

function pruneCheckpoints(root: string, keepLast: number): void {
  const steps = listCheckpoints(root);
  const keep = new Set(steps.slice(-keepLast));
  const good = latestGoodCheckpoint(root);
  for (const s of steps) {
    const dir = join(root, stepDirName(s));
    if (!keep.has(s) && dir !== good) rmSync(dir, { recursive: true, force: true });
  }
  for (const n of readdirSync(root)) if (n.startsWith(".tmp-") || n.startsWith(".old-")) rmSync(join(root, n), { recursive: true, force: true });
}

/** Check a file's size and sha256 against its manifest entry (hashed in chunks: files may pass 2 GiB). */
function checkAgainstManifest(path: string, entry: { sha256: string; bytes: number } | undefined): void {
  if (!entry) throw new CheckpointError(`${path}: not listed in the checkpoint's manifest.json`);
  let actual: { sha256: string; bytes: number };
  try {
    actual = hashFile(path);
  } catch (cause) {
    throw new CheckpointError(`${path}: cannot be read (${(cause as NodeJS.ErrnoException).code ?? cause}); the checkpoint is incomplete`, { cause });
  }
  if (actual.bytes !== entry.bytes) throw new CheckpointError(`${path}: ${actual.bytes} bytes where the manifest records ${entry.bytes} (truncated or overwritten); use an earlier checkpoint`);
  if (actual.sha256 !== entry.sha256) throw new CheckpointError(`${path}: sha256 does not match the manifest (the file is corrupt); use an earlier checkpoint`);
}

/** A small (JSON) file of a checkpoint, checked against the manifest, then read whole. */
function readVerified(dir: string, name: string, manifest: Manifest): Buffer {
  const path = join(dir, name);
  checkAgainstManifest(path, manifest.files[name]);
  return readFileSync(path);
}

/** A tensor file checked against the manifest, its header parsed, its tensors read one by one from the file. */
function openVerified(dir: string, name: string, manifest: Manifest): { path: string; entries: TensorEntry[]; metadata: Record<string, string>; read: (e: TensorEntry) => Float32Array } {
  const path = join(dir, name);
  checkAgainstManifest(path, manifest.files[name]);
  const { entries, metadata, dataStart } = readSafetensorsHeaderFile(path);
  return { path, entries, metadata, read: (e) => readTensorFromFile(path, dataStart, e) };
}

/**
 * The parameters of a checkpoint (model.safetensors and adapters.safetensors), each file verified against the
 * manifest and every tensor's name and shape against the model config, before any tensor is read: a reader
 * per parameter, in file order.
 */
function openParameters(dir: string, manifest: Manifest, model: ModelConfig): Map<string, () => Float32Array> {
  const expected = paramShapes(model);
  const readers = new Map<string, () => Float32Array>();
  const files = ["model.safetensors", ...(manifest.files["adapters.safetensors"] ? ["adapters.safetensors"] : [])];
  for (const file of files) {
    const { path, entries, read } = openVerified(dir, file, manifest);
    for (const e of entries) {
      const want = expected.get(e.name);
      if (!want) throw new CheckpointError(`${path}: unexpected tensor '${e.name}' for the model config in state.json`);
      if (want.join(",") !== e.shape.join(",")) throw new CheckpointError(`${path}: tensor '${e.name}' has shape [${e.shape}], the model config in state.json needs [${want}]`);
      readers.set(e.name, () => read(e));
    }
  }
  for (const name of expected.keys()) if (!readers.has(name)) throw new CheckpointError(`${join(dir, isAdapterParam(name) ? "adapters.safetensors" : "model.safetensors")}: missing tensor '${name}'`);
  return readers;
}

const SCHEMA_DIR = join(PACKAGE_ROOT, "core", "checkpoint", "schema");
const schemas = new Map<string, object>();
function checkpointSchema(name: "manifest" | "state"): object {
  let s = schemas.get(name);
  if (!s) schemas.set(name, (s = JSON.parse(readFileSync(join(SCHEMA_DIR, `${name}.schema.json`), "utf8")) as object));
  return s;
}

/** Parse a checkpoint's JSON file and check it against its schema; errors name the file and the field. */
function parseJsonFile<T>(path: string, text: string, schema?: "manifest" | "state"): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new CheckpointError(`${path}: not valid JSON (${(cause as Error).message}); the checkpoint is damaged, use an earlier one`, { cause });
  }
  if (schema) {
    const validate = compileSchema(checkpointSchema(schema));
    if (!validate(value)) throw new CheckpointError(`${path}: not a valid mtx checkpoint file:\n  ${formatSchemaErrors(validate.errors ?? [], value).join("\n  ")}`);
  }
  return value as T;
}

/** A tokenizer.json that @huggingface/tokenizers can load, or a CheckpointError naming the file. */
export function checkTokenizerJson(path: string, json: unknown): TokenizerJson {
  const t = json as Partial<TokenizerJson> | null;
  const problem =
    !t || typeof t !== "object" ? "not a JSON object"
    : !t.model || typeof t.model !== "object" ? "no 'model' object"
    : t.model.type !== "BPE" ? `model.type is ${JSON.stringify(t.model.type)}, not "BPE"`
    : !t.model.vocab || typeof t.model.vocab !== "object" || Array.isArray(t.model.vocab) ? "model.vocab is not an object of token ids"
    : !Array.isArray(t.model.merges) ? "model.merges is not a list"
    : !Array.isArray(t.added_tokens) ? "added_tokens is not a list"
    : undefined;
  if (problem) throw new CheckpointError(`${path}: not a byte-level BPE tokenizer.json (${problem})`);
  try {
    new Tokenizer(t as TokenizerJson);
  } catch (cause) {
    throw new CheckpointError(`${path}: the tokenizer does not load: ${(cause as Error).message}`, { cause });
  }
  return t as TokenizerJson;
}

/** A checkpoint's manifest, state and tokenizer, each verified against the manifest and its schema. */
function readCheckpointMeta(dir: string): { manifest: Manifest; state: CheckpointState; tokenizerJson: TokenizerJson } {
  if (!existsSync(dir)) throw new CheckpointError(`checkpoint '${dir}' does not exist`);
  const manifestPath = join(dir, "manifest.json");
  let manifestText: string;
  try {
    manifestText = readFileSync(manifestPath, "utf8");
  } catch (cause) {
    throw new CheckpointError(`${manifestPath}: missing or unreadable; '${dir}' is not a complete mtx checkpoint`, { cause });
  }
  const manifest = parseJsonFile<Manifest>(manifestPath, manifestText, "manifest");
  const statePath = join(dir, "state.json");
  const state = parseJsonFile<CheckpointState>(statePath, readVerified(dir, "state.json", manifest).toString("utf8"), "state");
  try {
    state.model = completeModelConfig(state.model);
    validateModelConfig(state.model);
  } catch (cause) {
    throw new CheckpointError(`${statePath}: the model config is not buildable: ${(cause as Error).message}`, { cause });
  }
  const tokenizerPath = join(dir, "tokenizer.json");
  const tokenizerJson = checkTokenizerJson(tokenizerPath, parseJsonFile(tokenizerPath, readVerified(dir, "tokenizer.json", manifest).toString("utf8")));
  if (Object.keys(tokenizerJson.model.vocab).length > state.model.vocabSize) {
    throw new CheckpointError(`${tokenizerPath}: ${Object.keys(tokenizerJson.model.vocab).length} tokens, more than the model's vocabSize ${state.model.vocabSize} in state.json`);
  }
  return { manifest, state, tokenizerJson };
}

/** sha256 of a file read in chunks (checkpoints of large models do not fit one buffer). */
function hashFile(path: string): { sha256: string; bytes: number } {
  const h = createHash("sha256");
  const fd = openSync(path, "r");
  const chunk = Buffer.alloc(8 << 20);
  let bytes = 0;
  try {
    for (let n; (n = readSync(fd, chunk, 0, chunk.length, null)) > 0; bytes += n) h.update(chunk.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return { sha256: h.digest("hex"), bytes };
}

/**
 * Verify a checkpoint without loading its tensors: every file's size and sha256, the JSON files against
 * their schemas, and every tensor's name and shape (from the safetensors headers) against the model config.
 * For engines that read the tensors themselves.
 */
export function verifyCheckpoint(dir: string, opts: { withOptimizer?: boolean } = {}): { state: CheckpointState; tokenizerJson: TokenizerJson; hasOptimizer: boolean } {
  const { manifest, state, tokenizerJson } = readCheckpointMeta(dir);
  const expected = paramShapes(state.model);
  const seen = new Set<string>();
  const tensorFiles = ["model.safetensors", "adapters.safetensors", ...(opts.withOptimizer === false ? [] : ["optimizer.safetensors"])].filter((f) => manifest.files[f]);
  for (const file of tensorFiles) {
    const path = join(dir, file);
    checkAgainstManifest(path, manifest.files[file]);
    for (const e of readSafetensorsHeaderFile(path).entries) {
      const name = file === "optimizer.safetensors" ? e.name.slice(2) : e.name;
      const want = expected.get(name);
      if (!want || (file === "optimizer.safetensors" && !/^[mv]\./.test(e.name))) throw new CheckpointError(`${path}: unexpected tensor '${e.name}' for the model config in state.json`);
      if (want.join(",") !== e.shape.join(",")) throw new CheckpointError(`${path}: tensor '${e.name}' has shape [${e.shape}], the model config in state.json needs [${want}]`);
      if (file !== "optimizer.safetensors") seen.add(name);
    }
  }
  for (const name of expected.keys()) if (!seen.has(name)) throw new CheckpointError(`${join(dir, isAdapterParam(name) ? "adapters.safetensors" : "model.safetensors")}: missing tensor '${name}'`);
  return { state, tokenizerJson, hasOptimizer: !!manifest.files["optimizer.safetensors"] };
}

/** A checkpoint's model config, from its verified state.json alone (to size things up before reading weights). */
export function readCheckpointModel(dir: string): ModelConfig {
  return readCheckpointMeta(dir).state.model;
}

/** A verified checkpoint whose weights are read one tensor at a time, when asked for. */
export interface CheckpointWeights {
  dir: string;
  state: CheckpointState;
  tokenizerJson: TokenizerJson;
  /** Parameter names in the model config's order. */
  names: string[];
  /** One parameter's values, read from its file now. */
  read(name: string): Float32Array;
}

/**
 * Open a checkpoint for reading tensor by tensor (exports of models that should not sit in memory whole, or
 * whose files pass 2 GiB): verified as loadCheckpoint verifies it; the optimizer is not read.
 */
export function openCheckpointWeights(dir: string): CheckpointWeights {
  const { manifest, state, tokenizerJson } = readCheckpointMeta(dir);
  const readers = openParameters(dir, manifest, state.model);
  return {
    dir,
    state,
    tokenizerJson,
    names: parameterSpecs(state.model).map((s) => s.name),
    read(name) {
      const read = readers.get(name);
      if (!read) throw new CheckpointError(`${dir}: no tensor '${name}'`);
      return read();
    },
  };
}

/**
 * Load and verify a checkpoint directory. Every file's size and sha256 must match the manifest; the JSON
 * files must match their schemas and the tensors the model config, checked from the headers before any
 * tensor is read. Errors name the file and the field.
 */
export function loadCheckpoint(dir: string, opts: { withOptimizer?: boolean } = {}): LoadedCheckpoint {
  const { manifest, state, tokenizerJson } = readCheckpointMeta(dir);

  // Tensors: every header entry is checked against the expected shapes before any data is read.
  const expected = paramShapes(state.model);
  const weights = new Map([...openParameters(dir, manifest, state.model)].map(([name, read]) => [name, read()]));

  let optimizer: AdamWState | undefined;
  if (opts.withOptimizer !== false && manifest.files["optimizer.safetensors"]) {
    const { path: optPath, entries, metadata, read } = openVerified(dir, "optimizer.safetensors", manifest);
    for (const e of entries) {
      if (!/^[mv]\./.test(e.name)) throw new CheckpointError(`${optPath}: unexpected tensor '${e.name}' (expected m.<param> or v.<param>)`);
      const want = expected.get(e.name.slice(2));
      if (!want) throw new CheckpointError(`${optPath}: moments for unknown parameter '${e.name.slice(2)}'`);
      if (want.join(",") !== e.shape.join(",")) throw new CheckpointError(`${optPath}: moment '${e.name}' has shape [${e.shape}], its parameter has [${want}]`);
    }
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    for (const e of entries) (e.name.startsWith("m.") ? m : v).set(e.name.slice(2), read(e));
    for (const name of m.keys()) if (!v.has(name)) throw new CheckpointError(`${optPath}: parameter '${name}' has a first moment but no second (v.${name})`);
    const step = Number(metadata.step ?? state.optimizerStep);
    if (!Number.isSafeInteger(step) || step < 0) throw new CheckpointError(`${optPath}: metadata step ${JSON.stringify(metadata.step)} is not a step count`);
    let born: Map<string, number> | undefined;
    if (metadata.born) {
      try {
        born = new Map(Object.entries(JSON.parse(metadata.born) as Record<string, number>));
      } catch (cause) {
        throw new CheckpointError(`${optPath}: metadata 'born' is not JSON`, { cause });
      }
    }
    optimizer = { step, m, v, born };
  }
  return { dir, state, weights, optimizer, tokenizerJson };
}

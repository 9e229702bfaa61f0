/**
 * What the training loop asks of an engine. The loop owns *when* and *why* (data, schedule, hooks, verdicts,
 * records, checkpoint metadata); an engine owns the tensors: the model, its gradients and AdamW moments.
 *
 *   start(spec)                 weights from a checkpoint (and its moments) or a seeded init
 *   backward(batch, terms)      forward + backward; loss, per-sequence loss, gradient norm; gradients kept
 *   update(lr) | discard()      apply them with AdamW (clipped), or drop them (a skipped step)
 *   setFrozen(names)            frozen parameters get no gradient, no update and no moments
 *   writeTensors(dir)           model.safetensors (+ adapters) and optimizer.safetensors in mtx's layout
 *   restore(dir)                weights and moments of a verified checkpoint (a rollback)
 *   perturb(scale, seed)        fault injection into the weights
 *   model / loadModel(dir)      the live model and frozen references, as LanguageModels (scoring, decoding)
 *   snapshot()                  where an off-loop probe reads the current weights
 *   probePool()                 where probes and drift run off the step loop
 *   peakMemory()                peak resident memory of each process doing the tensor work
 *   close()
 *
 * Two engines implement it: `tfjs` (engine/tfjs, in this process, the default) and `torch` (engine/torch:
 * PyTorch on torchrun, DDP or FSDP, rank 0 speaking a versioned protocol). docs/engines.md has the details.
 */
import type { LoadedCheckpoint } from "../checkpoint/Checkpoint.js";
import type { ModelConfig, OptimizerConfig } from "../config/types.js";
import type { Tokenizer } from "../data/tokenizer/Tokenizer.js";
import type { ProbePool } from "../pool/ProbePool.js";
import type { LanguageModel } from "./LanguageModel.js";
import type { BackwardResult, LossTermKind, TokenRows, UpdateResult, LossTerm } from "./types.js";

export type EngineKind = "tfjs" | "torch";

export interface EngineStart {
  /** The architecture to train (a checkpoint's, possibly with a longer context or adapters added). */
  model: ModelConfig;
  optimizer: OptimizerConfig;
  tokenizer: Tokenizer;
  /** Seed of the weight init (random init, new adapters). */
  seed: number;
  /** Start from this verified checkpoint (its moments too when `optimizer`), or from a seeded init. */
  from?: { dir: string; optimizer: boolean; loaded?: LoadedCheckpoint };
  /** Parameters frozen from the start. */
  frozen: string[];
  /** Sequences per step (data-parallel engines split them). */
  batchSize: number;
}

export interface EngineInfo {
  kind: EngineKind;
  /** One line for logs and summary.json. */
  description: string;
  /** How each part computes (kernels, device, processes), printed at start and kept in summary.json. */
  kernels: Record<string, string | number>;
  /** Total parameters. */
  parameters: number;
  /** Declared loss terms the engine computes inside its gradient. */
  lossTerms: LossTermKind[];
  versions: Record<string, string>;
}

/**
 * Where a probe reads a model: weights in memory (they move to a worker), a checkpoint directory, or an
 * OpenAI-compatible endpoint (`openai:URL`; engine/openai/OpenAiModel.ts).
 */
export type ProbeTarget =
  | { kind: "weights"; config: ModelConfig; weights: Record<string, Float32Array>; tokenizerJson: unknown }
  /** `step`: the training step of the weights, when the caller knows it (results are recorded at it). */
  | { kind: "checkpoint"; dir: string; step?: number }
  | { kind: "endpoint"; url: string; model?: string; tokenizerJson?: unknown };

/** A name for a loaded target, for caches (undefined: weights, which are never cached). */
export function targetKey(target: ProbeTarget): string | undefined {
  if (target.kind === "checkpoint") return target.dir;
  if (target.kind === "endpoint") return `${target.url}#${target.model ?? ""}`;
  return undefined;
}

/** Peak memory of one process of an engine, for summary.json and the benchmarks. */
export interface ProcessMemory {
  process: string;
  peakRssMb: number;
  /** Peak CUDA allocation, on a GPU. */
  peakCudaMb?: number;
}

export interface Engine {
  readonly kind: EngineKind;
  start(spec: EngineStart): Promise<EngineInfo>;
  backward(batch: TokenRows, terms: LossTerm[]): Promise<BackwardResult>;
  update(lr: number): Promise<UpdateResult>;
  discard(): Promise<void>;
  setFrozen(names: string[]): Promise<void>;
  /** Write the tensor files of a checkpoint into `dir`; returns AdamW's update count. */
  writeTensors(dir: string): Promise<{ optimizerStep: number }>;
  restore(dir: string): Promise<void>;
  perturb(scale: number, seed: number): Promise<void>;
  /** The model being trained (its current weights). */
  readonly model: LanguageModel;
  /** A frozen model from a checkpoint, held next to the trained one (reference, proctor, base). */
  loadModel(dir: string): Promise<LanguageModel>;
  snapshot(): Promise<ProbeTarget>;
  /** A pool that runs probes off the step loop on this engine's kind of model. */
  probePool(): ProbePool;
  peakMemory(): Promise<ProcessMemory[]>;
  close(): Promise<void>;
}

/** This process's peak resident memory (the tfjs engine's tensors live here, worker threads included). */
export function nodeMemory(): ProcessMemory {
  return { process: "mtx (node)", peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) };
}

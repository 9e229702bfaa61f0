/**
 * The trainer's hooks. Where each one fires in the loop (core/Trainer.ts), in this order within a step:
 *
 *   runStart(run)                                 async: run dir open, engine started, data ready
 *   for step in start+1..steps:
 *     prepareStep(prep)                           async: engine work the step needs (RL rollouts, scoring)
 *     weights = mixtureWeights(w)                 waterfall: proctor-driven mixing changes group weights
 *     batch = transformBatch(stream.next())       waterfall: reorder, inject, filter sequences
 *     lr = learningRate(lr)                       waterfall: the schedule (x any reduction) in, the LR out
 *     stepStart(ctx)
 *     terms = transformLoss({ terms: [] }).terms  waterfall: declared loss terms added INSIDE the gradient
 *     engine.backward(batch, terms)               loss, per-sequence loss, gradient norm
 *     afterBackward(ctx)                          observe; no update applied yet
 *     verdict = shouldSkipStep(ctx)               bail: skip | reduce-lr | rollback | halt
 *     engine.update(lr) unless skipped            update norm known
 *     stepEnd(ctx)                                observers: ctx.metrics is complete
 *     (deferred work due at this step settles)    results of off-loop probes land here
 *     verdict = shouldHalt(ctx)                   bail: rollback | halt
 *     verdict(record)                             after any verdict was carried out
 *     every eval.every:   evalStart(e) ... evalEnd(result)      async, after shouldHalt
 *     every checkpoint.every: save -> checkpointSaved(info)     async, after eval so the tag is known
 *   runEnd(summary)                               async
 *   failure(error)                                async, when the run threw
 *   shutdown(reason)                              async, always; every tap runs even if one fails
 *
 * Every hook takes one context object, so fields can be added without breaking taps. Per-step hooks are
 * synchronous except prepareStep; run-level hooks are async. A tap that throws becomes a PluginError
 * naming the plugin and the hook, and the plugin's onError policy (halt, disable, warn) decides what
 * happens next. Contexts carry no tensors: an engine may live in another process.
 */
import { AsyncSeriesHook, SyncBailHook, SyncHook, SyncWaterfallHook } from "tapable";
import type { EffectiveConfig, ModelConfig } from "./config/types.js";
import type { Batch } from "./data/batch.js";
import type { Document } from "./data/documents.js";
import type { Tokenizer } from "./data/tokenizer/Tokenizer.js";
import type { EngineInfo, ProbeTarget } from "./engine/Engine.js";
import type { LanguageModel } from "./engine/LanguageModel.js";
import type { LossTerm } from "./engine/types.js";
import type { ShouldHaltVerdict, SkipStepVerdict, VerdictRecord } from "./plugin.js";
import type { ProbePool } from "./pool/ProbePool.js";
import type { RunStatus, RunSummary, StepMetrics } from "./run/records.js";

export type { RunStatus, RunSummary, StepMetrics } from "./run/records.js";
import type { CheckpointTag } from "./checkpoint/Checkpoint.js";

export type { CheckpointTag };

export interface RunContext {
  config: EffectiveConfig;
  runDir: string;
  /** The model being trained: score and decode its current weights through the engine. */
  model: LanguageModel;
  /** Its architecture. */
  modelConfig: ModelConfig;
  tokenizer: Tokenizer;
  /** The engine in use: kind, description, kernels. */
  engine: EngineInfo;
  /** Step the run starts after (0 for a fresh run, N after a resume). */
  startStep: number;
  totalSteps: number;
  resumed: boolean;
  /** Checkpoint the weights came from, if any. */
  from?: string;
  /** The data mixture: groups with their recipe weights, and held-out documents by source. */
  data: RunDataView;
  /** A frozen model from a checkpoint directory, held by the engine next to the trained one. */
  loadModel(dir: string): Promise<LanguageModel>;
  /** The current weights, where an off-loop probe can read them. */
  snapshot(): Promise<ProbeTarget>;
  /** A pool that runs probes off the step loop on this engine's kind of model (close it at shutdown). */
  openProbePool(): ProbePool;
}

export interface RunDataView {
  recipe: string;
  groups: { name: string; weight: number; replay: boolean; sources: string[] }[];
  heldout: Record<string, Document[]>;
}

export interface PrepareContext {
  /** The step about to run. */
  step: number;
}

export interface MixtureWeightsContext {
  step: number;
  /** Weight per group in force for this step (normalised). Taps return a copy with new weights. */
  weights: Record<string, number>;
  /** The recipe's weights. */
  recipe: Record<string, number>;
}

export interface LearningRateContext {
  step: number;
  /** The LR for this step; taps return a copy with another value. */
  lr: number;
  /** The schedule's value before any reduction or tap. */
  scheduled: number;
}

export interface StepContext {
  step: number;
  batch: Batch;
  /** LR for this step (schedule x any active reduction). */
  lr: number;
  /** LM loss of the batch (set after the backward pass). */
  loss: number;
  /** LM loss plus every term (what was differentiated). */
  totalLoss: number;
  /** Weighted value of each added term (z-loss included). */
  terms: Record<string, number>;
  /** Extra numbers terms report, e.g. `{ irl: { kl: 0.01 } }`. */
  termDetails: Record<string, Record<string, number>>;
  /** Global gradient norm before clipping (set after the backward pass). */
  gradNorm: number;
  /** Per-sequence mean loss, in batch order (set after the backward pass). */
  sequenceLoss: Float32Array;
  /** Norm of the applied update (set after it; 0 when skipped). */
  updateNorm: number;
  skipped: boolean;
  /** Complete at stepEnd. */
  metrics?: StepMetrics;
}

export interface LossContext {
  step: number;
  batch: Batch;
  /** Terms added to the LM loss inside the gradient. Taps push declarations (engine/types.ts) or return a copy. */
  terms: LossTerm[];
}

export interface EvalContext {
  step: number;
}

export interface EvalResult {
  step: number;
  /** Held-out general loss (nats/token) and bits per byte. */
  heldoutLoss: number;
  heldoutBpb: number;
  /** The same per source label. */
  perSource: Record<string, { loss: number; bpb: number; tokens: number }>;
}

export interface CheckpointInfo {
  step: number;
  dir: string;
  tag: CheckpointTag;
}

export interface FailureContext {
  step: number;
  error: unknown;
}

export interface ShutdownContext {
  status: RunStatus;
}

/** Build the hook set. Called once in the Trainer's constructor. */
export function createHooks() {
  return Object.freeze({
    runStart: new AsyncSeriesHook<[RunContext]>(["run"]),
    prepareStep: new AsyncSeriesHook<[PrepareContext]>(["prepare"]),
    mixtureWeights: new SyncWaterfallHook<[MixtureWeightsContext]>(["mixture"]),
    transformBatch: new SyncWaterfallHook<[Batch]>(["batch"]),
    learningRate: new SyncWaterfallHook<[LearningRateContext]>(["lr"]),
    stepStart: new SyncHook<[StepContext]>(["step"]),
    transformLoss: new SyncWaterfallHook<[LossContext]>(["loss"]),
    afterBackward: new SyncHook<[StepContext]>(["step"]),
    shouldSkipStep: new SyncBailHook<[StepContext], SkipStepVerdict | undefined>(["step"]),
    stepEnd: new SyncHook<[StepContext]>(["step"]),
    shouldHalt: new SyncBailHook<[StepContext], ShouldHaltVerdict | undefined>(["step"]),
    verdict: new SyncHook<[VerdictRecord]>(["verdict"]),
    evalStart: new AsyncSeriesHook<[EvalContext]>(["evaluation"]),
    evalEnd: new AsyncSeriesHook<[EvalResult]>(["result"]),
    checkpointSaved: new AsyncSeriesHook<[CheckpointInfo]>(["checkpoint"]),
    runEnd: new AsyncSeriesHook<[RunSummary]>(["summary"]),
    failure: new AsyncSeriesHook<[FailureContext]>(["failure"]),
    shutdown: new AsyncSeriesHook<[ShutdownContext]>(["shutdown"]),
  });
}

export type TrainerHooks = ReturnType<typeof createHooks>;
export type HookName = keyof TrainerHooks;

export interface HookDoc {
  kind: "sync" | "sync-bail" | "sync-waterfall" | "async-series";
  /** When it fires. */
  when: string;
  /** What a tap may do and return. */
  contract: string;
  /** The interface of the hook's argument (its fields are listed in docs/hooks.md from this file). */
  argument: string;
}

/** Documentation of every hook; the compiler fails when a hook has none. Read by docs and a contract test. */
export const HOOK_DOCS: Record<HookName, HookDoc> = {
  runStart: { kind: "async-series", argument: "RunContext", when: "Once, after the run directory is locked, the engine started and the data ready, before step 1 (or the first step after a resume).", contract: "Load baselines (loadModel), open probe pools and warm caches here." },
  prepareStep: { kind: "async-series", argument: "PrepareContext", when: "Each step, first: before the batch is drawn.", contract: "Async work the step needs from the engine (sample RL rollouts, score a proctor's groups) through RunContext.model. Keep it to what the step needs." },
  mixtureWeights: { kind: "sync-waterfall", argument: "MixtureWeightsContext", when: "Each step, before the batch is drawn from the mixture.", contract: "Return a copy with new group weights (non-negative; normalised by the trainer) to change the mixture from this step on." },
  transformBatch: { kind: "sync-waterfall", argument: "Batch", when: "Each step, on the batch drawn from the data stream, before stepStart.", contract: "Batch in, Batch out (return undefined to keep it). Keep size and seqLen; update samples to match." },
  learningRate: { kind: "sync-waterfall", argument: "LearningRateContext", when: "Each step, after the batch is drawn: the schedule's LR times any active reduction.", contract: "Return a copy with another `lr` to change this step's learning rate (custom schedules, fault injection)." },
  stepStart: { kind: "sync", argument: "StepContext", when: "Each step, before the forward pass.", contract: "StepContext with step, batch and lr set. Observe only." },
  transformLoss: { kind: "sync-waterfall", argument: "LossContext", when: "Each step, before the engine's forward and backward pass.", contract: "Push declared terms (masked-nll, infonce, reinforce: engine/types.ts) to `terms`; the engine adds them to the loss inside the gradient, and each is logged as terms.<name>." },
  afterBackward: { kind: "sync", argument: "StepContext", when: "Each step, after the backward pass and before the update.", contract: "loss, totalLoss, terms, gradNorm and sequenceLoss are set. Observe only." },
  shouldSkipStep: { kind: "sync-bail", argument: "StepContext", when: "Each step, after afterBackward, before the update.", contract: "Return a SkipStepVerdict (skip, reduce-lr, rollback, halt) to act, or undefined. The first verdict wins." },
  stepEnd: { kind: "sync", argument: "StepContext", when: "Each step, after the update (or the skip).", contract: "ctx.metrics is complete (the line metrics.jsonl gets, before held-out fields on evaluation steps). Observers: logging, progress, scheduling off-loop work." },
  shouldHalt: { kind: "sync-bail", argument: "StepContext", when: "Each step, after stepEnd and after deferred work due at this step has settled; before the step's evaluation and checkpoint.", contract: "Return a ShouldHaltVerdict (rollback or halt) to act, or undefined. A skip is a type error here: the update is already applied." },
  verdict: { kind: "sync", argument: "VerdictRecord", when: "After the trainer carried out any verdict.", contract: "The record as written to decisions.jsonl. Observe only." },
  evalStart: { kind: "async-series", argument: "EvalContext", when: "Before each held-out evaluation (every eval.every steps and at the end), after shouldHalt.", contract: "Observe only." },
  evalEnd: { kind: "async-series", argument: "EvalResult", when: "After each held-out evaluation.", contract: "Held-out loss and bits per byte, overall and per source. Observe only (act on them in the next step's shouldHalt)." },
  checkpointSaved: { kind: "async-series", argument: "CheckpointInfo", when: "After a checkpoint is complete on disk (after the step's eval).", contract: "The step, directory and guardrail tag. Observe only." },
  runEnd: { kind: "async-series", argument: "RunSummary", when: "Once, after the last step, the final eval and the final checkpoint, for completed, halted and interrupted runs.", contract: "The summary as written to summary.json." },
  failure: { kind: "async-series", argument: "FailureContext", when: "When the run throws (a bug, bad data, a full disk, a dead engine).", contract: "The step and the error. Report only." },
  shutdown: { kind: "async-series", argument: "ShutdownContext", when: "Always, last. Every tap runs even if an earlier one throws; failures are logged, never rethrown.", contract: "The final status. Release resources (close probe pools)." },
};

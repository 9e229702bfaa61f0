/**
 * The trainer's hooks. Where each one fires in the loop:
 *
 *   runStart(run)                                 async: run dir open, model/optimizer/data ready
 *   for step in start+1..steps:
 *     weights = mixtureWeights(w)                 waterfall: proctor-driven mixing changes group weights
 *     batch = transformBatch(stream.next())       waterfall: reorder, inject, filter sequences
 *     stepStart(ctx)
 *     grads = grad(() => sum(transformLoss(       waterfall INSIDE the gradient: add loss terms
 *                       { lmLoss, terms: [] }).terms))
 *     afterBackward(ctx)                          loss and grad norm known, no update applied yet
 *     verdict = shouldSkipStep(ctx)               bail: skip | reduce-lr | rollback | halt
 *     if not skipped: optimizer.apply(grads)      update norm known
 *     stepEnd(ctx)                                observers: ctx.metrics is complete
 *     verdict = shouldHalt(ctx)                   bail: rollback | halt
 *     verdict(record)                             after any verdict was carried out
 *     every eval.every:   evalStart(e) ... evalEnd(result)      async
 *     every checkpoint.every: save -> checkpointSaved(info)     async, after eval so the tag is known
 *   runEnd(summary)                               async
 *   failure(error)                                async, when the run threw
 *   shutdown(reason)                              async, always; every tap runs even if one fails
 *
 * Every hook takes one context object, so fields can be added without breaking taps. Per-step hooks are
 * synchronous; run-level hooks are async. A tap that throws becomes a PluginError naming the plugin and
 * the hook, and the plugin's onError policy (halt, disable, warn) decides what happens next.
 */
import type * as tf from "@tensorflow/tfjs";
import { AsyncSeriesHook, SyncBailHook, SyncHook, SyncWaterfallHook } from "tapable";
import type { BackendInfo } from "./backend.js";
import type { CheckpointTag } from "./checkpoint/Checkpoint.js";
import type { EffectiveConfig } from "./config/types.js";
import type { Batch } from "./data/batch.js";
import type { Document } from "./data/documents.js";
import type { Tokenizer } from "./data/tokenizer/Tokenizer.js";
import type { ForwardResult, Transformer } from "./model/Transformer.js";
import type { Verdict, VerdictRecord } from "./verdicts.js";

export interface RunContext {
  config: EffectiveConfig;
  runDir: string;
  model: Transformer;
  tokenizer: Tokenizer;
  backend: BackendInfo;
  /** Step the run starts after (0 for a fresh run, N after a resume). */
  startStep: number;
  totalSteps: number;
  resumed: boolean;
  /** Checkpoint the weights came from, if any. */
  from?: string;
  /** The data mixture: groups with their recipe weights, and held-out documents by source. */
  data: RunDataView;
}

export interface RunDataView {
  recipe: string;
  groups: { name: string; weight: number; replay: boolean; sources: string[] }[];
  heldout: Record<string, Document[]>;
}

export interface MixtureWeightsContext {
  step: number;
  /** Weight per group in force for this step (normalised). Taps return a copy with new weights. */
  weights: Record<string, number>;
  /** The recipe's weights. */
  recipe: Record<string, number>;
}

/** Per-step numbers, written as one line of metrics.jsonl. */
export interface StepMetrics {
  step: number;
  /** LM cross-entropy (nats/token) of this batch, before the update. */
  loss: number;
  /** Loss including every added term (what was differentiated). */
  totalLoss: number;
  /** Added loss terms by name (z-loss, auxiliary losses). */
  terms: Record<string, number>;
  gradNorm: number;
  /** Norm of the applied parameter change (0 when skipped). */
  updateNorm: number;
  lr: number;
  /** Tokens trained on so far, this step included. */
  tokens: number;
  tokensPerSec: number;
  stepTimeMs: number;
  /** Mean loss per source label of the batch's sequences. */
  sourceLoss: Record<string, number>;
  skipped: boolean;
  /** Mixture weight per group in force for this step. */
  mixtureWeights: Record<string, number>;
  /** Parameters that received gradients this step (all but the frozen ones). */
  trainableParams: number;
  heldoutLoss?: number;
  heldoutBpb?: number;
}

export interface StepContext {
  step: number;
  batch: Batch;
  /** LR for this step (schedule x any active reduction). */
  lr: number;
  /** Set after the backward pass. */
  loss: number;
  gradNorm: number;
  /** Per-sequence mean loss, in batch order (set after the backward pass). */
  sequenceLoss: Float32Array;
  /** Set after the update. */
  updateNorm: number;
  skipped: boolean;
  /** Complete at stepEnd. */
  metrics?: StepMetrics;
}

export interface LossTerm {
  name: string;
  /** Scalar tensor, already weighted; it is added to the loss and differentiated. */
  value: tf.Scalar;
}

export interface LossContext {
  step: number;
  batch: Batch;
  forward: ForwardResult;
  /** Terms added to the LM loss. Taps push to it (or return a copy with more terms). */
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

export type RunStatus = "completed" | "halted" | "interrupted" | "failed";

export interface RunSummary {
  status: RunStatus;
  exitCode: number;
  runDir: string;
  steps: number;
  startStep: number;
  endStep: number;
  tokens: number;
  flops: number;
  firstLoss: number | null;
  lastLoss: number | null;
  heldout: { loss: number; bpb: number } | null;
  verdicts: VerdictRecord[];
  halt?: { plugin: string; reason: string; evidence?: Record<string, unknown> };
  error?: string;
  backend: string;
  wallTimeSec: number;
  tokensPerSec: number;
  lastCheckpoint?: string;
  from?: string;
  resetOptimizer?: boolean;
  /** Trainable parameters at the end of the run (the model's size when nothing is frozen). */
  trainableParams?: number;
  /** Tokens and FLOPs of the starting checkpoint's lineage (its pre-training), for compute shares. */
  base?: { tokens: number; flops: number };
  /** Backend and kernels in use (matmul, attention, data-parallel threads). */
  kernels?: Record<string, string | number>;
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
    mixtureWeights: new SyncWaterfallHook<[MixtureWeightsContext]>(["mixture"]),
    transformBatch: new SyncWaterfallHook<[Batch]>(["batch"]),
    stepStart: new SyncHook<[StepContext]>(["step"]),
    transformLoss: new SyncWaterfallHook<[LossContext]>(["loss"]),
    afterBackward: new SyncHook<[StepContext]>(["step"]),
    shouldSkipStep: new SyncBailHook<[StepContext], Verdict | undefined>(["step"]),
    stepEnd: new SyncHook<[StepContext]>(["step"]),
    shouldHalt: new SyncBailHook<[StepContext], Verdict | undefined>(["step"]),
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
  /** What the argument carries and what a tap may return. */
  contract: string;
}

/** Documentation of every hook; the compiler fails when a hook has none. Read by docs and a contract test. */
export const HOOK_DOCS: Record<HookName, HookDoc> = {
  runStart: { kind: "async-series", when: "Once, after the run directory, model, optimizer and data are ready and before step 1 (or the first step after a resume).", contract: "RunContext: config, run dir, model, tokenizer, backend, start step. Load baselines and warm caches here." },
  mixtureWeights: { kind: "sync-waterfall", when: "Each step, before the batch is drawn from the mixture.", contract: "MixtureWeightsContext in, out: return a copy with new group weights (non-negative; normalised by the trainer) to change the mixture from this step on." },
  transformBatch: { kind: "sync-waterfall", when: "Each step, on the batch drawn from the data stream, before stepStart.", contract: "Batch in, Batch out (return undefined to keep it). Keep size and seqLen; update samples to match." },
  stepStart: { kind: "sync", when: "Each step, before the forward pass.", contract: "StepContext with step, batch and lr." },
  transformLoss: { kind: "sync-waterfall", when: "Each step, inside the gradient computation, after the LM loss.", contract: "LossContext: push weighted scalar terms to `terms`; they are added to the loss, differentiated and logged by name." },
  afterBackward: { kind: "sync", when: "Each step, after gradients exist and before the update.", contract: "StepContext with loss, gradNorm and per-sequence losses set. Observe only." },
  shouldSkipStep: { kind: "sync-bail", when: "Each step, after afterBackward.", contract: "Return a Verdict (skip, reduce-lr, rollback, halt) to act, or undefined. The first verdict wins." },
  stepEnd: { kind: "sync", when: "Each step, after the update (or the skip).", contract: "StepContext with metrics complete. Observers: logging, progress, scheduling." },
  shouldHalt: { kind: "sync-bail", when: "Each step, after stepEnd.", contract: "Return a Verdict (rollback or halt) to act, or undefined." },
  verdict: { kind: "sync", when: "After the trainer carried out any verdict.", contract: "VerdictRecord with step and outcome, as written to decisions.jsonl." },
  evalStart: { kind: "async-series", when: "Before each held-out evaluation (every eval.every steps and at the end).", contract: "EvalContext with the step." },
  evalEnd: { kind: "async-series", when: "After each held-out evaluation.", contract: "EvalResult: held-out loss and bits per byte, overall and per source." },
  checkpointSaved: { kind: "async-series", when: "After a checkpoint is complete on disk (after the step's eval).", contract: "CheckpointInfo: step, directory and guardrail tag." },
  runEnd: { kind: "async-series", when: "Once, after the last step, the final eval and the final checkpoint, for completed, halted and interrupted runs.", contract: "RunSummary as written to summary.json." },
  failure: { kind: "async-series", when: "When the run throws (a bug, bad data, a plugin with onError halt).", contract: "FailureContext with the step and the error. Report only." },
  shutdown: { kind: "async-series", when: "Always, last. Every tap runs even if an earlier one throws; failures are logged, never rethrown.", contract: "ShutdownContext with the final status. Release resources." },
};

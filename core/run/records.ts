/**
 * The records of a run directory, typed once for their writers (the trainer, plugins) and their readers
 * (`mtx report`, `mtx compare`, resume):
 *   metrics.jsonl    StepMetrics per step, plus LateMetrics lines for results that measured an earlier step
 *   decisions.jsonl  DecisionRecord per verdict, warning, fault, unfreeze, plugin error, config change
 *   probes.jsonl     ProbeRecord per in-training probe measurement
 *   summary.json     RunSummary
 */
import type { ProcessMemory } from "../engine/Engine.js";
import type { VerdictRecord } from "../plugin.js";

/** One line of metrics.jsonl: what one step measured. */
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
  /** Wall-clock time the step ended (ms since the epoch), for TensorBoard's time axes. */
  time: number;
  /** Mean loss per source label of the batch's sequences. */
  sourceLoss: Record<string, number>;
  skipped: boolean;
  /** Mixture weight per group in force for this step. */
  mixtureWeights: Record<string, number>;
  /** Parameters that received gradients this step (all but the frozen ones). */
  trainableParams: number;
  /** Held-out loss and bits per byte, on evaluation steps (added after evalEnd). */
  heldoutLoss?: number;
  heldoutBpb?: number;
  /** Plugin numbers (`irl.reward`, `agentic.sequences`, ...). */
  [plugin: string]: unknown;
}

/**
 * A result that measured an earlier step (the weights of step `step`, arriving at `arrivedAtStep`), written
 * as its own line; readers merge it into that step's line.
 */
export interface LateMetrics {
  step: number;
  late: true;
  arrivedAtStep: number;
  [metric: string]: number | boolean;
}

export interface DecisionRecord {
  step: number;
  /** A verdict's action, or warn, inject, unfreeze, plugin-error, reset-optimizer, config-change, resume. */
  action: string;
  plugin: string;
  reason: string;
  outcome?: string;
  evidence?: Record<string, unknown>;
  time: string;
  [key: string]: unknown;
}

export interface ProbeRecord {
  /** The step whose weights were measured. */
  step: number;
  /** The step the result arrived (and gates were checked) at. */
  arrivedAtStep?: number;
  plugin?: string;
  probe: string;
  metrics: Record<string, number>;
  n?: number;
  details?: unknown;
}

export type RunStatus = "completed" | "halted" | "interrupted" | "failed";

export interface RunSummary {
  status: RunStatus;
  exitCode: number;
  runDir: string;
  /** Steps of the whole run (all processes of it, resumes included). */
  steps: number;
  /** The step the run started after (0 for a run from a checkpoint or a random init). */
  startStep: number;
  endStep: number;
  /** Steps at which this run was resumed, in order. */
  resumedAt: number[];
  tokens: number;
  flops: number;
  /**
   * What the run cost: its training steps, steps re-done after a rollback included (tokens and flops count
   * the curve kept), and the forward FLOPs of its held-out evaluations and of the probes it ran (drift,
   * probes). A method's own extra compute is in its metrics (`irl.flops`: sampling and scoring;
   * `curriculum.flops`: scoring the groups).
   */
  spent?: { tokens: number; flops: number; evalFlops?: number; probeFlops?: number };
  /** Loss of the run's first step and of its last. */
  firstLoss: number | null;
  lastLoss: number | null;
  heldout: { loss: number; bpb: number } | null;
  verdicts: VerdictRecord[];
  halt?: { plugin: string; reason: string; evidence?: Record<string, unknown> };
  error?: string;
  /** The engine and its backend, one line. */
  engine: string;
  /** Kept for readers of earlier runs; the same as engine. */
  backend: string;
  /** Wall time of every process of the run, summed. */
  wallTimeSec: number;
  /** Tokens per second of training steps over the whole run. */
  tokensPerSec: number;
  lastCheckpoint?: string;
  from?: string;
  resetOptimizer?: boolean;
  /** Trainable parameters at the end of the run (the model's size when nothing is frozen). */
  trainableParams?: number;
  /** Tokens and FLOPs of the starting checkpoint's lineage (its pre-training), for compute shares. */
  base?: { tokens: number; flops: number };
  /** How each part computes (kernels, device, processes). */
  kernels?: Record<string, string | number>;
  /** Peak resident memory of each process that did the run's tensor work (mtx itself, torch ranks). */
  peakMemory?: ProcessMemory[];
}

/**
 * metrics.jsonl as one record per step: late lines (results that measured an earlier step) are merged into
 * the line of the step they measured, with `arrivedAtStep` kept per metric group under `arrivedAt`.
 */
export function mergeLateMetrics(lines: (StepMetrics | LateMetrics)[]): StepMetrics[] {
  const bySteps = new Map<number, StepMetrics>();
  const late: LateMetrics[] = [];
  for (const l of lines) {
    if ((l as LateMetrics).late === true) late.push(l as LateMetrics);
    else bySteps.set(l.step, l as StepMetrics);
  }
  for (const l of late) {
    const { step, late: _late, arrivedAtStep, ...values } = l;
    const target = bySteps.get(step);
    if (!target) continue; // the step was rolled back and redone without this measurement
    Object.assign(target, values);
    target.arrivedAt = { ...(target.arrivedAt as Record<string, number> | undefined), ...Object.fromEntries(Object.keys(values).map((k) => [k, arrivedAtStep])) };
  }
  return [...bySteps.values()].sort((a, b) => a.step - b.step);
}

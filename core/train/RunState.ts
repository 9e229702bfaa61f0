/**
 * Everything a run carries from step to step besides tensors: one typed, serialisable object the loop
 * reads and updates, saved in each checkpoint's state.json (`run`) and restored on resume and rollback.
 * Engines never see it.
 */
import type { CheckpointState } from "../checkpoint/Checkpoint.js";
import { createRng, restoreRng, type Rng, type RngState } from "../rng.js";

export interface LrReduction {
  factor: number;
  /** Last step (inclusive) the reduction applies to. */
  untilStep: number;
}

/** Progress of the whole run (all its processes), for summary.json. */
export interface RunProgress {
  /** The step the run started after (0, or the step of the checkpoint a resume continued). */
  firstStep: number;
  firstLoss: number | null;
  lastLoss: number | null;
  /** Tokens and milliseconds of training steps (throughput over the whole run). */
  trainTokens: number;
  /** FLOPs of the steps trained (steps re-done after a rollback counted again); absent in older checkpoints. */
  trainFlops?: number;
  /** Forward FLOPs of the trainer's held-out evaluations, and of probes run during the run (drift, curriculum, probes). */
  evalFlops?: number;
  probeFlops?: number;
  trainMs: number;
  /** Wall time of earlier processes of this run (this one's is added at the end). */
  wallTimeSec: number;
  /** Steps at which the run was resumed. */
  resumedAt: number[];
}

/** The saved form (state.json `run`). */
export interface SavedRunState {
  step: number;
  tokens: number;
  flops: number;
  lastLr: number;
  lrReduction?: LrReduction;
  /** Sample ids never to train on again (data windows skipped after rollbacks). */
  skipSamples: string[];
  /** Step of the last verdict carried out (a checkpoint soon after one is tagged suspect). */
  lastVerdictStep: number | null;
  /** Tokens and FLOPs of the starting checkpoint's lineage (its pre-training), for compute shares. */
  baseCompute: { tokens: number; flops: number };
  progress: RunProgress;
}

export class RunState implements SavedRunState {
  step = 0;
  tokens = 0;
  flops = 0;
  lastLr = 0;
  lrReduction: LrReduction | undefined;
  skipSamples: string[] = [];
  lastVerdictStep: number | null = null;
  baseCompute = { tokens: 0, flops: 0 };
  progress: RunProgress = { firstStep: 0, firstLoss: null, lastLoss: null, trainTokens: 0, trainMs: 0, wallTimeSec: 0, resumedAt: [] };
  private readonly rngs = new Map<string, Rng>();
  private savedRngs: Record<string, RngState> = {};

  constructor(private readonly seed: number) {}

  /** A seeded random stream for `label`, continued from the checkpoint after a resume or rollback. */
  rng(label: string): Rng {
    let r = this.rngs.get(label);
    if (!r) {
      const saved = this.savedRngs[label];
      r = saved ? restoreRng(saved) : createRng(this.seed, label);
      this.rngs.set(label, r);
    }
    return r;
  }

  /** The states of every stream used so far (and those restored but not used yet). */
  rngStates(): Record<string, RngState> {
    const out: Record<string, RngState> = { ...this.savedRngs };
    for (const [label, r] of this.rngs) out[label] = r.state();
    return out;
  }

  /** The LR reduction in force at `step` (expired ones are cleared). */
  reductionAt(step: number): number {
    if (!this.lrReduction) return 1;
    if (step <= this.lrReduction.untilStep) return this.lrReduction.factor;
    this.lrReduction = undefined;
    return 1;
  }

  /** Account for a completed step. */
  advance(step: number, tokens: number, flops: number, lr: number, loss: number, ms: number): void {
    this.step = step;
    this.tokens += tokens;
    this.flops += flops;
    this.lastLr = lr;
    this.progress.firstLoss ??= loss;
    this.progress.lastLoss = loss;
    this.progress.trainTokens += tokens;
    this.progress.trainFlops = (this.progress.trainFlops ?? 0) + flops;
    this.progress.trainMs += ms;
  }

  /** Account for forward compute outside the steps: the trainer's evaluations, or probes. */
  spendForward(kind: "eval" | "probe", flops: number): void {
    if (kind === "eval") this.progress.evalFlops = (this.progress.evalFlops ?? 0) + flops;
    else this.progress.probeFlops = (this.progress.probeFlops ?? 0) + flops;
  }

  toJSON(): SavedRunState {
    return {
      step: this.step,
      tokens: this.tokens,
      flops: this.flops,
      lastLr: this.lastLr,
      ...(this.lrReduction ? { lrReduction: this.lrReduction } : {}),
      skipSamples: [...this.skipSamples],
      lastVerdictStep: this.lastVerdictStep,
      baseCompute: this.baseCompute,
      progress: structuredClone(this.progress),
    };
  }

  /**
   * Take the state of a checkpoint of this run: on resume everything; on rollback everything but history
   * (skipped samples and progress accumulate: what happened since the checkpoint still happened).
   */
  restore(ckpt: CheckpointState, reason: "resume" | "rollback"): void {
    const s = savedState(ckpt);
    this.step = s.step;
    this.tokens = s.tokens;
    this.flops = s.flops;
    this.lastLr = s.lastLr;
    this.lrReduction = s.lrReduction;
    this.baseCompute = s.baseCompute;
    this.skipSamples = [...new Set([...this.skipSamples, ...s.skipSamples])];
    this.rngs.clear();
    this.savedRngs = ckpt.rng as Record<string, RngState>;
    if (reason === "resume") {
      this.lastVerdictStep = s.lastVerdictStep;
      this.progress = { ...structuredClone(s.progress), resumedAt: [...s.progress.resumedAt, s.step] };
    }
  }

  /** A new run from a checkpoint: it continues that lineage's token and FLOP counts (and compute share). */
  startFrom(ckpt: CheckpointState): void {
    this.tokens = ckpt.tokens;
    this.flops = ckpt.flops;
    this.baseCompute = { tokens: ckpt.tokens, flops: ckpt.flops };
  }
}

/**
 * The run state saved in a checkpoint; checkpoints written before it was typed keep theirs in `trainer`,
 * with the counters at the top level.
 */
function savedState(ckpt: CheckpointState): SavedRunState {
  if (ckpt.run) return ckpt.run;
  const t = (ckpt.trainer ?? {}) as { lrReduction?: LrReduction; skipSamples?: string[]; baseCompute?: { tokens: number; flops: number } };
  return {
    step: ckpt.step,
    tokens: ckpt.tokens,
    flops: ckpt.flops,
    lastLr: ckpt.lr,
    lrReduction: t.lrReduction,
    skipSamples: t.skipSamples ?? [],
    lastVerdictStep: null,
    baseCompute: t.baseCompute ?? { tokens: 0, flops: 0 },
    progress: { firstStep: 0, firstLoss: null, lastLoss: null, trainTokens: 0, trainMs: 0, wallTimeSec: 0, resumedAt: [] },
  };
}

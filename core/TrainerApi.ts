/** The view of the trainer that plugins get in `apply()`. */
import type { EffectiveConfig } from "./config/types.js";
import type { TrainerHooks } from "./hooks.js";
import type { Rng } from "./rng.js";

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

export interface TrainerApi {
  readonly hooks: TrainerHooks;
  readonly config: EffectiveConfig;
  /** The run directory. */
  readonly runDir: string;
  readonly log: Logger;
  /** A seeded random stream for `label`, saved in checkpoints (e.g. trainer.rng("spike")). */
  rng(label: string): Rng;
  /** Add named numbers to this step's line of metrics.jsonl (e.g. a probe's result when it arrives). */
  logMetrics(values: Record<string, number>): void;
  /** Record a warning in decisions.jsonl (action "warn") and the log; training is not changed. */
  warn(plugin: string, reason: string, evidence?: Record<string, unknown>): void;
  /**
   * Make the loop wait for `work` before the shouldHalt hooks of step `step` (or the current step if
   * past). Async work (a probe in a worker) then lands at a step fixed in advance, so runs stay
   * deterministic however fast the worker is.
   */
  defer(step: number, work: Promise<unknown>): void;
}

/**
 * The plugin contract, in one place. A plugin is an object with a name and an `apply(trainer)` that taps
 * the trainer's hooks (tapable `tap` / `tapPromise`, with the plugin's name as the tap name). Guardrails
 * act only by returning a verdict from a bail hook (`shouldSkipStep`, `shouldHalt`); the trainer carries it
 * out and records it with its evidence in RUN/decisions.jsonl. Observers never change training state. A
 * plugin never throws to stop a run and never reaches into another plugin.
 *
 * What a plugin file exports (any of):
 *   - a PluginDefinition `{ name, description, hooks, optionsSchema, create(options) }` (options validated
 *     against optionsSchema, defaults filled in),
 *   - a class (constructed with the options), a factory function, or a plugin object.
 */
import type { EffectiveConfig } from "./config/types.js";
import type { TrainerHooks } from "./hooks.js";
import type { Rng } from "./rng.js";

// ---------------------------------------------------------------- verdicts

/** What a guardrail asks the trainer to do. */
export type VerdictAction = "skip" | "reduce-lr" | "rollback" | "halt";

interface VerdictBase {
  /** One sentence a person can act on: what was seen and why it matters. */
  reason: string;
  /** Plugin that decided (the trainer itself uses "trainer"). */
  plugin: string;
  /** The numbers behind the decision: values, window statistics, sample ids, sources. */
  evidence?: Record<string, unknown>;
}

/** Skip this step's update: no moment update, no weight decay, no step count. */
export interface SkipVerdict extends VerdictBase {
  action: "skip";
}

/** Multiply the scheduled LR by `lrFactor` (default 0.5) for `lrSteps` steps (default 50), this one included. */
export interface ReduceLrVerdict extends VerdictBase {
  action: "reduce-lr";
  lrFactor?: number;
  lrSteps?: number;
}

/** Go back to the last checkpoint tagged `good` (weights, moments, data cursor), skipping these samples when the data is replayed. */
export interface RollbackVerdict extends VerdictBase {
  action: "rollback";
  skipSamples?: string[];
}

/** Stop the run: a final checkpoint tagged `halted`, exit code 3. */
export interface HaltVerdict extends VerdictBase {
  action: "halt";
}

export type Verdict = SkipVerdict | ReduceLrVerdict | RollbackVerdict | HaltVerdict;
/** What `shouldSkipStep` may return (before the update: every action). */
export type SkipStepVerdict = Verdict;
/** What `shouldHalt` may return (after the update: only a rollback or a halt can still act). */
export type ShouldHaltVerdict = RollbackVerdict | HaltVerdict;

/** A verdict as recorded in decisions.jsonl. */
export type VerdictRecord = Verdict & {
  step: number;
  /** What the trainer did, e.g. "update skipped", "rolled back to step 100". */
  outcome: string;
  time: string;
};

/** Which actions each bail hook may return (also checked at run time, for plugins written in JavaScript). */
export const ALLOWED_ACTIONS = {
  shouldSkipStep: ["skip", "reduce-lr", "rollback", "halt"],
  shouldHalt: ["rollback", "halt"],
} as const satisfies Record<string, readonly VerdictAction[]>;

/** Short text for logs: `[spike] skip at step 120: loss 9.1 is 7.2 sigma above the window mean (update skipped)`. */
export function formatVerdict(v: VerdictRecord): string {
  return `[${v.plugin}] ${v.action} at step ${v.step}: ${v.reason} (${v.outcome})`;
}

// ---------------------------------------------------------------- plugins

export interface MtxPlugin {
  /** Unique name; used as the tap name so errors and verdicts name the plugin. */
  readonly name: string;
  apply(trainer: TrainerApi): void;
  /** State to keep across a resume or rollback (stored in the checkpoint's state.json). */
  state?(): unknown;
  /**
   * Restore what `state()` returned: on `--resume`, and on a rollback to an earlier checkpoint (a plugin
   * may keep counters that must survive the rollback, such as a retry budget).
   */
  restore?(state: unknown, reason: "resume" | "rollback"): void;
}

/** What happens when a plugin's tap throws: halt the run (exit 3), stop calling the plugin, or log and go on. */
export type OnErrorPolicy = "halt" | "disable" | "warn";

/** A plugin as a module describes it to the registry, `mtx plugins list` and config validation. */
export interface PluginDefinition<Options = Record<string, unknown>> {
  name: string;
  /** One line for `mtx plugins list`. */
  description: string;
  /** Hooks the plugin taps. */
  hooks: string[];
  /** `guardrail` (acts through verdicts), `method` (changes what is trained) or `observer`. */
  kind?: "guardrail" | "method" | "observer";
  /** JSON Schema of the options (defaults filled in by validation). */
  optionsSchema?: object;
  create(options: Options): MtxPlugin;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

/** The view of the trainer that plugins get in `apply()`. */
export interface TrainerApi {
  readonly hooks: TrainerHooks;
  readonly config: EffectiveConfig;
  /** The run directory. */
  readonly runDir: string;
  readonly log: Logger;
  /** A seeded random stream for `label`, saved in checkpoints (e.g. trainer.rng("spike")). */
  rng(label: string): Rng;
  /**
   * Add named numbers to metrics.jsonl: to the current step's line, or, with `measuredAtStep`, to the step
   * a late result measured (a probe of the weights of step 100 that arrives at step 110).
   */
  logMetrics(values: Record<string, number>, measuredAtStep?: number): void;
  /** Record a warning in decisions.jsonl (action "warn") and the log; training is not changed. */
  warn(plugin: string, reason: string, evidence?: Record<string, unknown>): void;
  /**
   * Make the loop wait for `work` before the shouldHalt hooks of step `step` (or the current step if
   * past). Async work (a probe in a worker) then lands at a step fixed in advance, so runs stay
   * deterministic however fast the worker is.
   */
  defer(step: number, work: Promise<unknown>): void;
}

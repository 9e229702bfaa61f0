/**
 * The plugin contract. A plugin is an object with a name and an `apply(trainer)` that taps the trainer's
 * hooks (tapable `tap` / `tapPromise`, with the plugin's name as the tap name). Guardrails act by returning
 * verdicts from bail hooks; observers never change training state.
 */
import type { TrainerApi } from "./TrainerApi.js";

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

/** What happens when a plugin's tap throws. */
export type OnErrorPolicy = "halt" | "disable" | "warn";

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
}

/**
 * What a probe is: an async function of a model and parameters that returns plain numbers. Probes see the
 * model only through the LanguageModel interface, so the same probe measures a tfjs model in a worker, the
 * PyTorch engine's model, or a served one.
 */
import type { Tokenizer } from "../core/data/tokenizer/Tokenizer.js";
import type { ProbeTarget } from "../core/engine/Engine.js";
import type { LanguageModel } from "../core/engine/LanguageModel.js";

export interface ProbeContext {
  model: LanguageModel;
  tokenizer: Tokenizer;
  /** Seed of any sampling the probe does. */
  seed: number;
  /** Another model (a base to compare with), loaded where this one lives and cached. */
  load(target: ProbeTarget): Promise<LanguageModel>;
}

export interface ProbeResult {
  /** Named numbers that gates and tables read (e.g. `bpb`, `accuracy`, `accuracy.d3`). */
  metrics: Record<string, number>;
  /** Items measured (for the sampling error of proportions). */
  n: number;
  /** Anything worth saving: per-item outcomes, grids. */
  details?: unknown;
}

export interface ProbeDefinition {
  name: string;
  description: string;
  run(ctx: ProbeContext, params: Record<string, unknown>): Promise<ProbeResult>;
}

/** What a probe is: a function of a model snapshot and parameters that returns plain numbers. */
import type { Tokenizer } from "../core/data/tokenizer/Tokenizer.js";
import type { Transformer } from "../core/model/Transformer.js";

export interface ProbeContext {
  model: Transformer;
  tokenizer: Tokenizer;
  /** Seed of any sampling the probe does. */
  seed: number;
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
  run(ctx: ProbeContext, params: Record<string, unknown>): ProbeResult;
}

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
  /** Standard error of each metric that averages over items (probes/stats.ts). */
  stderr?: Record<string, number>;
  /** Items behind each metric. */
  counts?: Record<string, number>;
  /** Items measured. */
  n: number;
  /** Anything worth saving: per-item outcomes, grids. */
  details?: unknown;
  /** Forward compute the probe asked of its models (set by the runner, not the probe). */
  compute?: { tokens: number; flops: number };
}

export interface ProbeDefinition {
  name: string;
  description: string;
  /**
   * The metric names a run with `params` produces (`*` matches any run of characters: `bpb.*`), so a suite's
   * gate on a metric no probe produces is refused before anything runs. Optional for custom probes.
   */
  metrics?(params: Record<string, unknown>): string[];
  /** The params it reads, with their defaults and meaning (`mtx probes list`, docs/probes.md). */
  params?: Record<string, string>;
  run(ctx: ProbeContext, params: Record<string, unknown>): Promise<ProbeResult>;
}

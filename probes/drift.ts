/**
 * The drift probe: held-out general bits per byte of a model snapshot and its KL divergence from the
 * frozen base model on fixed general text. Runs in a worker; the base model and its scores are cached
 * per worker, keyed by the base checkpoint and the batches.
 */
import { loadCheckpoint } from "../core/checkpoint/Checkpoint.js";
import type { Transformer } from "../core/model/Transformer.js";
import { Transformer as Model } from "../core/model/Transformer.js";
import { modelFromSnapshot, type ModelSnapshot } from "../core/pool/snapshot.js";
import { klFrom, scoreBatches, type LmScore, type TokenBatch } from "./lm.js";

export interface DriftInput {
  model?: ModelSnapshot;
  /** Base checkpoint directory. */
  base: string;
  /** Held-out general text (the replay sources). */
  general: TokenBatch[];
  /** Held-out text of the other sources, for per-source tracking. */
  others: TokenBatch[];
  /** How many general batches also measure the KL divergence. */
  klBatches: number;
  tokenBytes: Int32Array;
}

export interface DriftScores {
  general: LmScore;
  others: LmScore["perSource"];
}

export interface DriftResult {
  score: DriftScores;
  base: DriftScores;
  /** Mean per-token KL(base || model), nats. */
  kl: number;
}

let cached: { key: string; model: Transformer; score: DriftScores } | undefined;

function scores(model: Transformer, input: DriftInput): DriftScores {
  return { general: scoreBatches(model, input.general, input.tokenBytes), others: input.others.length ? scoreBatches(model, input.others, input.tokenBytes).perSource : {} };
}

function baseModel(input: DriftInput): { model: Transformer; score: DriftScores } {
  const key = `${input.base}:${input.general.length}:${input.others.length}:${input.general[0]?.inputs.slice(0, 16).join(",")}`;
  if (!cached || cached.key !== key) {
    cached?.model.dispose();
    const ckpt = loadCheckpoint(input.base, { withOptimizer: false });
    const model = Model.fromWeights(ckpt.state.model, ckpt.weights);
    cached = { key, model, score: scores(model, input) };
  }
  return cached;
}

export function drift(input: DriftInput): DriftResult {
  const base = baseModel(input);
  if (!input.model) return { score: base.score, base: base.score, kl: 0 };
  const model = modelFromSnapshot(input.model);
  try {
    return { score: scores(model, input), base: base.score, kl: klFrom(base.model, model, input.general.slice(0, input.klBatches)) };
  } finally {
    model.dispose();
  }
}

/**
 * `mtx merge`: fold a checkpoint's low-rank adapters into its weights and write a plain checkpoint that
 * any consumer of the architecture can load. The adapters' moments do not carry over (they belong to
 * A and B, not to W); `momentsFrom` copies the base weights' AdamW moments from another checkpoint (the
 * one the adapters were trained on) so mid-training can continue from the merged model with moments.
 */
import { CheckpointError } from "../errors.js";
import { foldAdapters } from "../model/Transformer.js";
import type { AdamWState } from "../optim/state.js";
import { loadCheckpoint, writeCheckpointDir } from "./Checkpoint.js";

export interface MergeResult {
  out: string;
  matrices: number;
  parameters: number;
  withMoments: boolean;
}

export function mergeCheckpoint(checkpoint: string, out: string, momentsFrom?: string): MergeResult {
  const ckpt = loadCheckpoint(checkpoint);
  const adapters = ckpt.state.model.adapters;
  if (!adapters) throw new CheckpointError(`${ckpt.dir} has no adapters to merge (state.json model.adapters is not set); it is already a plain checkpoint`);
  const { config, weights } = foldAdapters(ckpt.state.model, ckpt.weights);
  let optimizer: AdamWState | undefined;
  if (momentsFrom) {
    const source = loadCheckpoint(momentsFrom);
    if (!source.optimizer) throw new CheckpointError(`--moments-from ${source.dir} has no optimizer moments`);
    for (const [name, w] of weights) {
      const m = source.optimizer.m.get(name);
      if (!m || m.length !== w.length) throw new CheckpointError(`--moments-from ${source.dir} has no moments of the right shape for '${name}': is it the checkpoint the adapters were trained from?`);
    }
    optimizer = { step: source.optimizer.step, m: source.optimizer.m, v: source.optimizer.v };
  }
  const matrices = ckpt.weights.size - weights.size;
  writeCheckpointDir(out, {
    state: { ...ckpt.state, model: config, hasOptimizer: !!optimizer, optimizerStep: optimizer?.step ?? 0, reason: `adapters (rank ${adapters.rank}, alpha ${adapters.alpha}) of ${ckpt.dir} merged`, createdAt: new Date().toISOString() },
    weights,
    optimizer,
    tokenizerJson: ckpt.tokenizerJson,
  });
  let parameters = 0;
  for (const w of weights.values()) parameters += w.length;
  return { out, matrices: matrices / 2, parameters, withMoments: !!optimizer };
}

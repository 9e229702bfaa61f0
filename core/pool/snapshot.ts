/** Model snapshots that cross thread boundaries: the config plus named weights as Float32Arrays. */
import type { ModelConfig } from "../config/types.js";
import { Transformer } from "../model/Transformer.js";

export interface ModelSnapshot {
  config: ModelConfig;
  weights: Record<string, Float32Array>;
}

export function snapshotOf(model: Transformer): ModelSnapshot {
  return { config: model.config, weights: Object.fromEntries(model.getWeights()) };
}

export function modelFromSnapshot(s: ModelSnapshot): Transformer {
  return Transformer.fromWeights(s.config, new Map(Object.entries(s.weights)));
}

/** The buffers of a snapshot, to move rather than copy into a worker. */
export function snapshotBuffers(s: ModelSnapshot): ArrayBuffer[] {
  return Object.values(s.weights).map((w) => w.buffer as ArrayBuffer);
}

/**
 * Data-parallel training across worker threads: the messages and the shared-memory layout. Weights and
 * gradients travel through SharedArrayBuffers laid out in the model's parameter order (no copies through
 * postMessage), one gradient region per worker.
 */
import type { ModelConfig } from "../config/types.js";
import type { BackendChoice } from "../backend.js";

export interface InitMessage {
  kind: "init";
  config: ModelConfig;
  backend: BackendChoice;
  /** Float32 weights of every parameter, in parameter order. */
  weights: SharedArrayBuffer;
  /** Float32 gradients this worker writes, in parameter order. */
  grads: SharedArrayBuffer;
}

export interface StepMessage {
  kind: "step";
  inputs: Int32Array;
  targets: Int32Array;
  size: number;
  seqLen: number;
  /** Names of the parameters to differentiate (the trainable ones). */
  trainable: string[];
}

export interface StepReply {
  kind: "result";
  /** Mean LM loss over this shard's tokens. */
  loss: number;
  /** The z-loss term on this shard, when the model has one. */
  zLoss?: number;
  /** Mean loss per sequence. */
  sequenceLoss: Float32Array;
}

export interface ErrorReply {
  kind: "error";
  message: string;
}

/** Offsets (in floats) of each parameter inside a shared region, in parameter order. */
export function layout(specs: { name: string; shape: number[] }[]): { offsets: Map<string, number>; total: number } {
  const offsets = new Map<string, number>();
  let total = 0;
  for (const s of specs) {
    offsets.set(s.name, total);
    total += s.shape.reduce((a, b) => a * b, 1);
  }
  return { offsets, total };
}

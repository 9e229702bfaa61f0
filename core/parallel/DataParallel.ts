/**
 * Data-parallel gradient computation on worker threads (the main thread computes the first shard
 * itself). Each step the main thread writes the weights to shared memory once, each replica computes the
 * gradients of its shard, and the trainer averages the shards' gradients weighted by their token counts
 * (the mean over the whole batch, as one process computes it) in a fixed order, so runs stay
 * deterministic. wasm threads are off under Node; this is how training uses more than one core.
 */
import { Worker } from "node:worker_threads";
import type { BackendChoice } from "../backend.js";
import type { ModelConfig } from "../config/types.js";
import { BackendError } from "../errors.js";
import type { Transformer } from "../model/Transformer.js";
import { GRADIENT_WORKER } from "../paths.js";
import { layout, type ErrorReply, type StepMessage, type StepReply } from "./protocol.js";

interface Replica {
  worker: Worker;
  grads: Float32Array;
}

export interface ShardResult extends StepReply {
  /** Gradients by dotted parameter name (views into shared memory; copy before the next step). */
  grads: Map<string, Float32Array>;
}

export class DataParallel {
  private readonly replicas: Replica[] = [];
  private readonly weights: Float32Array;
  private readonly offsets: Map<string, number>;

  private constructor(private readonly model: Transformer, count: number) {
    const l = layout(model.specs);
    this.offsets = l.offsets;
    this.weights = new Float32Array(new SharedArrayBuffer(4 * l.total));
    for (let i = 0; i < count; i++) {
      this.replicas.push({ worker: new Worker(GRADIENT_WORKER), grads: new Float32Array(new SharedArrayBuffer(4 * l.total)) });
    }
  }

  /** Start `count` replicas of `model` (total processes = count + the main thread). */
  static async start(model: Transformer, count: number, backend: BackendChoice): Promise<DataParallel> {
    const dp = new DataParallel(model, count);
    dp.syncWeights();
    await Promise.all(
      dp.replicas.map(
        (r) =>
          new Promise<void>((resolve, reject) => {
            r.worker.once("message", (m: { kind: string; message?: string }) => (m.kind === "ready" ? resolve() : reject(new BackendError(`data-parallel worker failed to start: ${m.message}`))));
            r.worker.once("error", reject);
            r.worker.postMessage({ kind: "init", config: model.config as ModelConfig, backend, weights: dp.weights.buffer, grads: r.grads.buffer });
          }),
      ),
    );
    return dp;
  }

  get workers(): number {
    return this.replicas.length;
  }

  /** Copy the model's current weights into shared memory (before each step). */
  syncWeights(): void {
    for (const [name, v] of this.model.params) this.weights.set(v.dataSync() as Float32Array, this.offsets.get(name)!);
  }

  /** Ask replica `i` for the gradients of a shard; resolves when it has written them. */
  compute(i: number, shard: Omit<StepMessage, "kind">): Promise<ShardResult> {
    const r = this.replicas[i]!;
    return new Promise((resolve, reject) => {
      r.worker.once("message", (m: StepReply | ErrorReply) => {
        if (m.kind === "error") return reject(new BackendError(`data-parallel worker ${i + 1}: ${m.message}`));
        const grads = new Map<string, Float32Array>();
        for (const name of shard.trainable) {
          const at = this.offsets.get(name)!;
          grads.set(name, r.grads.subarray(at, at + this.model.param(name).size));
        }
        resolve({ ...m, grads });
      });
      r.worker.postMessage({ kind: "step", ...shard });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.worker.terminate()));
    this.replicas.length = 0;
  }
}

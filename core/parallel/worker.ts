/**
 * A data-parallel replica in a worker thread: it holds its own copy of the model on its own tfjs engine,
 * reads the current weights from shared memory each step, and writes the gradients of its shard of the
 * batch (mean LM loss, plus the z-loss when configured) back to shared memory.
 */
import * as tf from "@tensorflow/tfjs";
import { parentPort } from "node:worker_threads";
import { initBackend } from "../backend.js";
import { parameterSpecs, Transformer } from "../model/Transformer.js";
import { layout, type InitMessage, type StepMessage, type StepReply } from "./protocol.js";

let model: Transformer | undefined;
let weights: Float32Array;
let grads: Float32Array;
let offsets = new Map<string, number>();

async function init(m: InitMessage): Promise<void> {
  await initBackend(m.backend);
  weights = new Float32Array(m.weights);
  grads = new Float32Array(m.grads);
  const specs = parameterSpecs(m.config);
  offsets = layout(specs).offsets;
  const initial = new Map(specs.map((s) => [s.name, weights.subarray(offsets.get(s.name)!, offsets.get(s.name)! + s.shape.reduce((a, b) => a * b, 1))]));
  model = Transformer.fromWeights(m.config, initial);
}

function step(m: StepMessage): StepReply {
  const mdl = model!;
  tf.tidy(() => {
    for (const [name, v] of mdl.params) {
      const at = offsets.get(name)!;
      v.assign(tf.tensor(weights.subarray(at, at + v.size), v.shape, "float32"));
    }
  });
  const trainable = new Set(m.trainable);
  for (const [name, v] of mdl.params) v.trainable = trainable.has(name);
  const vars = [...mdl.params.values()].filter((v) => v.trainable);
  let loss = 0;
  let zLoss: number | undefined;
  let sequenceLoss: Float32Array = new Float32Array(0);
  tf.tidy(() => {
    const { grads: g } = tf.variableGrads(() => {
      const f = mdl.forward(m.inputs, m.targets, m.size, m.seqLen);
      loss = f.lmLoss.dataSync()[0]!;
      sequenceLoss = tf.mean(tf.reshape(f.tokenLoss, [m.size, m.seqLen]), 1).dataSync() as Float32Array;
      if (f.zLoss) zLoss = f.zLoss.dataSync()[0]!;
      return f.zLoss ? (tf.add(f.lmLoss, f.zLoss) as tf.Scalar) : f.lmLoss;
    }, vars);
    for (const [name, v] of mdl.params) {
      const grad = g[v.name];
      if (grad) grads.set(grad.dataSync() as Float32Array, offsets.get(name)!);
    }
  });
  return { kind: "result", loss, zLoss, sequenceLoss };
}

parentPort!.on("message", (m: InitMessage | StepMessage) => {
  if (m.kind === "init") {
    init(m).then(
      () => parentPort!.postMessage({ kind: "ready" }),
      (e: Error) => parentPort!.postMessage({ kind: "error", message: e.message }),
    );
    return;
  }
  try {
    parentPort!.postMessage(step(m));
  } catch (e) {
    parentPort!.postMessage({ kind: "error", message: (e as Error).message });
  }
});

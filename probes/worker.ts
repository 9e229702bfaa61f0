/**
 * The probe worker (one per piscina thread): sets up TensorFlow.js once, builds the model a task names
 * (a checkpoint directory, cached, or a snapshot of weights) and runs the probe. Inputs and outputs are
 * structured-clone data.
 */
import { initBackend, type BackendChoice } from "../core/backend.js";
import { loadCheckpoint } from "../core/checkpoint/Checkpoint.js";
import { Tokenizer } from "../core/data/tokenizer/Tokenizer.js";
import type { TokenizerJson } from "../core/data/tokenizer/trainBpe.js";
import { ProbeError } from "../core/errors.js";
import { Transformer } from "../core/model/Transformer.js";
import type { ProbeTask } from "../core/pool/ProbePool.js";
import { modelFromSnapshot, type ModelSnapshot } from "../core/pool/snapshot.js";
import { drift, type DriftInput } from "./drift.js";
import { PROBES } from "./index.js";
import { ownEntry } from "../core/lookup.js";
import type { ProbeResult } from "./types.js";

export interface ProbeInput {
  /** A checkpoint directory (verified, then cached per worker) ... */
  checkpoint?: string;
  /** ... or a snapshot of weights, with the tokenizer it needs. */
  snapshot?: ModelSnapshot;
  tokenizerJson?: unknown;
  params: Record<string, unknown>;
  seed: number;
}

const models = new Map<string, { model: Transformer; tokenizer: Tokenizer }>();

function modelFor(input: ProbeInput): { model: Transformer; tokenizer: Tokenizer; dispose: boolean } {
  if (input.snapshot) return { model: modelFromSnapshot(input.snapshot), tokenizer: new Tokenizer(input.tokenizerJson as TokenizerJson), dispose: true };
  if (!input.checkpoint) throw new ProbeError("a probe task needs a checkpoint or a snapshot");
  let m = models.get(input.checkpoint);
  if (!m) {
    const ckpt = loadCheckpoint(input.checkpoint, { withOptimizer: false });
    m = { model: Transformer.fromWeights(ckpt.state.model, ckpt.weights), tokenizer: new Tokenizer(ckpt.tokenizerJson as TokenizerJson) };
    models.set(input.checkpoint, m);
  }
  return { ...m, dispose: false };
}

export default async function runProbe(task: ProbeTask & { backend?: BackendChoice }): Promise<unknown> {
  await initBackend(task.backend ?? "wasm");
  if (task.probe === "drift") return drift(task.input as DriftInput);
  const probe = ownEntry(PROBES, task.probe);
  if (!probe) throw new ProbeError(`unknown probe '${task.probe}': known probes are ${Object.keys(PROBES).join(", ")}`);
  const input = task.input as ProbeInput;
  const { model, tokenizer, dispose } = modelFor(input);
  try {
    const result: ProbeResult = probe.run({ model, tokenizer, seed: input.seed }, input.params ?? {});
    return result;
  } finally {
    if (dispose) model.dispose();
  }
}

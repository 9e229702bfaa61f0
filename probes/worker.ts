/**
 * The probe worker (one per piscina thread): sets up TensorFlow.js once, builds the model a task names
 * (a checkpoint directory or an endpoint, cached, or a snapshot of weights) and runs the probe. Inputs and outputs are
 * structured-clone data.
 */
import { initBackend, type BackendChoice } from "../core/backend.js";
import { Tokenizer } from "../core/data/tokenizer/Tokenizer.js";
import type { TokenizerJson } from "../core/data/tokenizer/trainBpe.js";
import type { ProbeTarget } from "../core/engine/Engine.js";
import type { LanguageModel } from "../core/engine/LanguageModel.js";
import { OpenAiModel } from "../core/engine/openai/OpenAiModel.js";
import { TfjsModel } from "../core/engine/tfjs/TfjsModel.js";
import { Transformer } from "../core/model/Transformer.js";
import type { ProbeTask } from "../core/pool/ProbePool.js";
import { CachingHost, runProbeTask } from "./run.js";
import type { ProbeResult } from "./types.js";

async function buildModel(target: ProbeTarget): Promise<LanguageModel> {
  if (target.kind === "checkpoint") return TfjsModel.fromCheckpoint(target.dir);
  if (target.kind === "endpoint") return OpenAiModel.connect(target);
  return new TfjsModel(Transformer.fromWeights(target.config, new Map(Object.entries(target.weights))), new Tokenizer(target.tokenizerJson as TokenizerJson), true);
}

const host = new CachingHost(buildModel);

export default async function runInWorker(task: ProbeTask & { backend?: BackendChoice }): Promise<ProbeResult> {
  await initBackend(task.backend ?? "wasm");
  return runProbeTask(task, host);
}

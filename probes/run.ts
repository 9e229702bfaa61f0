/**
 * Running one probe task against a model host: the host turns a ProbeTarget into a LanguageModel (a tfjs
 * model in a worker thread, or the PyTorch engine's eval process), and models loaded from checkpoint
 * directories are cached per host, so a suite loads each checkpoint once.
 */
import { targetKey, type ProbeTarget } from "../core/engine/Engine.js";
import { CountingModel, type ForwardCompute } from "../core/engine/CountingModel.js";
import type { LanguageModel } from "../core/engine/LanguageModel.js";
import type { ProbeTask } from "../core/pool/ProbePool.js";
import { probeFor } from "./resolve.js";
import type { ProbeResult } from "./types.js";

export interface ModelHost {
  /** A model for `target`; `cache` keeps checkpoint models loaded for later tasks. */
  load(target: ProbeTarget): Promise<LanguageModel>;
}

/** A host that keeps checkpoint models loaded and builds weight snapshots fresh (the task disposes them). */
export class CachingHost implements ModelHost {
  private readonly cache = new Map<string, Promise<LanguageModel>>();

  constructor(private readonly build: (target: ProbeTarget) => Promise<LanguageModel>) {}

  load(target: ProbeTarget): Promise<LanguageModel> {
    const key = targetKey(target);
    if (key === undefined) return this.build(target);
    let m = this.cache.get(key);
    if (!m) {
      m = this.build(target);
      this.cache.set(key, m);
      m.catch(() => this.cache.delete(key));
    }
    return m;
  }

  /** Free every cached model. */
  async close(): Promise<void> {
    for (const m of this.cache.values()) await (await m.catch(() => undefined))?.dispose();
    this.cache.clear();
  }
}

/** Run `task` with models from `host`. */
export async function runProbeTask(task: ProbeTask, host: ModelHost): Promise<ProbeResult> {
  const probe = await probeFor(task.probe);
  const model = await host.load(task.target);
  // Every model the probe touches counts its forward compute into the result.
  const compute: ForwardCompute = { tokens: 0, flops: 0 };
  try {
    const result = await probe.run({ model: new CountingModel(model, compute), tokenizer: model.tokenizer, seed: task.seed, load: async (t) => new CountingModel(await host.load(t), compute) }, task.params ?? {});
    return { ...result, compute };
  } finally {
    if (targetKey(task.target) === undefined) await model.dispose();
  }
}

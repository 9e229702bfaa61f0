/** The engine a run's config asks for. The PyTorch engine's module loads only when it is used. */
import type { EffectiveConfig } from "../config/types.js";
import type { Engine } from "./Engine.js";
import { TfjsEngine } from "./tfjs/TfjsEngine.js";

export async function createEngine(config: EffectiveConfig, log?: (line: string) => void): Promise<Engine> {
  if (config.engine.type === "torch") {
    const { TorchEngine } = await import("./torch/TorchEngine.js");
    return new TorchEngine(config.engine, { runDir: config.out, log });
  }
  return new TfjsEngine({ backend: config.backend, threads: config.parallel.threads });
}

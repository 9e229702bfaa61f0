/**
 * Selective training: which parameters are frozen at a given point of a run. Frozen parameters get no
 * gradient, no update and no optimizer state. With adapters every base weight is frozen. Progressive
 * unfreezing (ULMFiT, Howard & Ruder 2018) releases one layer at each configured step, from the top:
 * the LM head and final norm, then the blocks from the last down, then the embedding.
 *
 * A pure function of (config, step), so resumes and rollbacks recompute the same set.
 */
import type { FreezeConfig } from "../config/types.js";
import { matchesPattern } from "../optim/state.js";
import type { ParamSpec } from "./Transformer.js";

/** Layers from the top down, each a list of parameter-name patterns. */
export function layersTopDown(nLayers: number): { label: string; patterns: string[] }[] {
  const layers = [{ label: "head", patterns: ["head.weight", "norm.weight"] }];
  for (let i = nLayers - 1; i >= 0; i--) layers.push({ label: `blocks.${i}`, patterns: [`blocks.${i}.*`] });
  layers.push({ label: "embed", patterns: ["embed.weight"] });
  return layers;
}

export interface FreezePlan {
  /** Names of the frozen parameters. */
  frozen: Set<string>;
  /** Layers released so far by progressive unfreezing, top first. */
  released: string[];
}

/**
 * The frozen parameters after `completedSteps` steps: the configured patterns (and first blocks), or all
 * base weights under adapters, minus the layers progressive unfreezing has released by then.
 */
export function freezePlan(specs: ParamSpec[], nLayers: number, cfg: FreezeConfig, withAdapters: boolean, completedSteps: number): FreezePlan {
  const patterns = [...cfg.patterns];
  for (let i = 0; i < cfg.firstBlocks; i++) patterns.push(`blocks.${i}.*`);
  const initially = new Set(
    specs.filter((s) => s.kind !== "adapter" && (withAdapters || patterns.some((p) => matchesPattern(s.name, p)))).map((s) => s.name),
  );
  const due = cfg.unfreezeAt.filter((at) => at <= completedSteps + 1).length;
  const released: string[] = [];
  const frozen = new Set(initially);
  for (const layer of layersTopDown(nLayers)) {
    if (released.length >= due) break;
    const members = [...frozen].filter((n) => layer.patterns.some((p) => matchesPattern(n, p)));
    if (!members.length) continue; // this layer was never frozen: release the next one down
    for (const n of members) frozen.delete(n);
    released.push(layer.label);
  }
  return { frozen, released };
}

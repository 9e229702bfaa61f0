/**
 * The two architectures mtx trains, and what a model config leaves implicit spelled out:
 *
 * - `llama` (the default for new models): pre-RMSNorm blocks, rotary attention with optional grouped-query
 *   heads (`nKvHeads`), a SwiGLU MLP down(silu(gate x) * up x) of width `intermediate`, no biases, tied or
 *   untied head. Hugging Face's LlamaForCausalLM and llama.cpp's `llama` run it (mtx export).
 * - `gelu`: the same attention with a 4x tanh-GELU MLP (`mlp.w1`, `mlp.w2`), mtx's architecture before 0.2;
 *   checkpoints written then have no `arch` field and mean this one.
 */
import type { ModelConfig } from "../config/types.js";

export type Arch = "llama" | "gelu";

/** A model config as a checkpoint may hold it: `arch`, `nKvHeads` and `intermediate` possibly absent. */
export type StoredModelConfig = Omit<ModelConfig, "arch" | "nKvHeads" | "intermediate"> & { arch?: Arch; nKvHeads?: number | null; intermediate?: number | null };

/** The llama MLP width that costs about what a 4x GELU MLP does: 8/3 dModel, up to a multiple of 32. */
export function defaultIntermediate(dModel: number): number {
  return Math.ceil((8 * dModel) / 3 / 32) * 32;
}

/**
 * The config with its architecture explicit: a missing `arch` is `gelu` (checkpoints before 0.2), the KV
 * heads default to the heads, the MLP width to the architecture's. What checkpoints record and engines read.
 */
export function completeModelConfig(cfg: StoredModelConfig): ModelConfig {
  const arch: Arch = cfg.arch ?? "gelu";
  const intermediate = arch === "gelu" ? 4 * cfg.dModel : (cfg.intermediate ?? defaultIntermediate(cfg.dModel));
  return { ...cfg, arch, nKvHeads: cfg.nKvHeads ?? cfg.nHeads, intermediate } as ModelConfig;
}

export function kvHeads(cfg: Pick<ModelConfig, "nHeads" | "nKvHeads">): number {
  return cfg.nKvHeads ?? cfg.nHeads;
}

export function intermediateOf(cfg: Pick<ModelConfig, "arch" | "dModel" | "intermediate">): number {
  return (cfg.arch ?? "gelu") === "gelu" ? 4 * cfg.dModel : (cfg.intermediate ?? defaultIntermediate(cfg.dModel));
}

/** The MLP's matrices of an architecture, in parameter order. */
export function mlpMatrices(arch: Arch): string[] {
  return arch === "llama" ? ["mlp.gate", "mlp.up", "mlp.down"] : ["mlp.w1", "mlp.w2"];
}

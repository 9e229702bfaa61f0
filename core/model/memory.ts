/**
 * How much of the WebAssembly heap a model needs, estimated before anything is built: the tfjs wasm
 * backend addresses at most 4 GiB (wasm32), and a model past that dies mid-step with "memory access out of
 * bounds". The estimate counts float32 values:
 *   training  ~ 4.8 N            weights, gradients, AdamW m and v, and the copies an update makes
 *             + 2.34 A           activations kept for the backward pass, A = B T L (19 D + H T) per layer
 *             + 5 B T V          logits, their softmax and gradient
 *   inference ~ 1.2 N + 2 B T (4 D + H T) + 3 B T V
 * The coefficients were fitted to the wasm heap measured after two training steps on seven shapes from
 * D128 L4 T128 B8 (172 MB) to D512 L8 T256 B16 (4.0 GB) with @tensorflow/tfjs-backend-wasm 4.22; the
 * estimate is within 10% of those measurements and errs high.
 */
import type { ModelConfig } from "../config/types.js";
import { ConfigError } from "../errors.js";
import { parameterSpecs } from "./Transformer.js";

/** Addressable wasm32 memory. */
export const WASM_HEAP_LIMIT = 4 * 2 ** 30;

export interface MemoryEstimate {
  bytes: number;
  parameters: number;
}

export function parameterCount(cfg: ModelConfig): number {
  return parameterSpecs(cfg).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
}

/** Estimated wasm heap of training `cfg` on batches of `batch` x `seqLen` tokens. */
export function trainingMemory(cfg: ModelConfig, batch: number, seqLen: number): MemoryEstimate {
  const n = parameterCount(cfg);
  const tokens = batch * seqLen;
  const activations = tokens * cfg.nLayers * (19 * cfg.dModel + cfg.nHeads * seqLen);
  return { bytes: 4 * (4.8 * n + 2.34 * activations + 5 * tokens * cfg.vocabSize), parameters: n };
}

/** Estimated wasm heap of scoring or generating with `cfg` on `batch` x `seqLen` tokens. */
export function inferenceMemory(cfg: ModelConfig, batch: number, seqLen: number): MemoryEstimate {
  const n = parameterCount(cfg);
  const tokens = batch * seqLen;
  return { bytes: 4 * (1.2 * n + 2 * tokens * (4 * cfg.dModel + cfg.nHeads * seqLen) + 3 * tokens * cfg.vocabSize), parameters: n };
}

export function formatBytes(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GB` : `${Math.round(bytes / 2 ** 20)} MB`;
}

/**
 * Refuse (exit 2) a model the wasm heap cannot hold to score one full-context sequence, before its weights
 * are read, with the estimate and the way through the PyTorch engine. `dir` names the checkpoint.
 */
export function checkWasmHolds(cfg: ModelConfig, dir: string): void {
  const need = inferenceMemory(cfg, 1, cfg.contextLength);
  if (need.bytes <= 0.95 * WASM_HEAP_LIMIT) return;
  throw new ConfigError(
    `${dir}: a ${(need.parameters / 1e6).toFixed(1)} M-parameter model needs about ${formatBytes(need.bytes)} of the TensorFlow.js engine's ${formatBytes(WASM_HEAP_LIMIT)} ` +
      `WebAssembly heap to score one sequence (an estimate). Serve it on the PyTorch engine (mtx serve --checkpoint ${dir} --engine torch) ` +
      `and point probes, gates and generate at the server (--checkpoint openai:http://127.0.0.1:8000/v1)`,
  );
}

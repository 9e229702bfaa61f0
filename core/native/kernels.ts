/**
 * The native kernel add-on (core/native/kernels.c), built from source by `npm ci` where the machine has a C
 * compiler, and registered as TensorFlow.js kernels on the wasm backend: BatchMatMul (every transpose and
 * batch layout, on OpenBLAS when Debian's libopenblas0 is installed, else on the add-on's own blocked
 * kernel), Tanh and Exp (vectorized through glibc's libmvec). They read and write the wasm heap in place.
 * When the add-on did not build, or MTX_NATIVE=0, nothing is registered and the plain wasm kernels run.
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../paths.js";

interface Addon {
  gemm(batch: number, m: number, n: number, k: number, transA: number, transB: number, a: Float32Array, strideA: number, b: Float32Array, strideB: number, c: Float32Array): void;
  unary(op: number, x: Float32Array, y: Float32Array): void;
  attention(B: number, T: number, H: number, hd: number, scale: number, q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, probs: Float32Array): void;
  attentionGrad(B: number, T: number, H: number, hd: number, scale: number, q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, dout: Float32Array, dq: Float32Array, dk: Float32Array, dv: Float32Array): void;
  setThreads(n: number): void;
  info(): { blas: string; threads: number };
}

/** The wasm backend's heap access (tfjs-backend-wasm's BackendWasm). */
interface WasmHeap {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

export const ADDON_PATH = join(PACKAGE_ROOT, "core", "native", "build", "Release", "mtx_kernels.node");
const OVERRIDDEN = ["BatchMatMul", "Tanh", "Exp"] as const;
/** Kernels the add-on adds (no wasm counterpart): causal attention on [B, T, H*hd] and its gradient. */
export const ATTENTION_KERNEL = "MtxCausalAttention";
export const ATTENTION_GRAD_KERNEL = "MtxCausalAttentionGrad";
const UNARY_OP = { Tanh: 0, Exp: 1 } as const;

let addon: Addon | null | undefined;
let loadError: string | undefined;
const originals = new Map<string, tf.KernelConfig>();

/** The add-on, or null when it is not built or cannot load (the reason is in {@link nativeStatus}). */
function loadAddon(): Addon | null {
  if (addon !== undefined) return addon;
  if (process.env.MTX_NATIVE === "0") {
    loadError = "disabled by MTX_NATIVE=0";
    return (addon = null);
  }
  if (!existsSync(ADDON_PATH)) {
    loadError = "not built (no C compiler at install time? run 'npm run build:native')";
    return (addon = null);
  }
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
  } catch (e) {
    loadError = `failed to load: ${(e as Error).message}`;
    addon = null;
  }
  return addon;
}

function batchMatMul(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }, lib: Addon): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const original = originals.get("BatchMatMul")!.kernelFunc;
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (a.dtype !== "float32" || b.dtype !== "float32" || ra < 2 || rb < 2) return original(args as never) as tf.TensorInfo;
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  // Shapes the plain kernel rejects or broadcasts partially: let it handle them (and word the error).
  if (k !== kb || (batchA !== batchB && batchA !== 1 && batchB !== 1)) return original(args as never) as tf.TensorInfo;
  const batch = Math.max(batchA, batchB);
  const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), m, n];
  const heap = args.backend as WasmHeap;
  const out = heap.makeOutput(outShape, "float32");
  if (batch * m * n === 0) return out;
  // Views are taken after makeOutput: an allocation can grow the heap and detach earlier views.
  lib.gemm(batch, m, n, k, transposeA ? 1 : 0, transposeB ? 1 : 0, heap.typedArrayFromHeap(a), batchA === 1 ? 0 : m * k, heap.typedArrayFromHeap(b), batchB === 1 ? 0 : k * n, heap.typedArrayFromHeap(out));
  return out;
}

function unary(name: keyof typeof UNARY_OP, args: { inputs: tf.NamedTensorInfoMap; backend: unknown }, lib: Addon): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype !== "float32") return originals.get(name)!.kernelFunc(args as never) as tf.TensorInfo;
  const heap = args.backend as WasmHeap;
  const out = heap.makeOutput(x.shape, "float32");
  if (tf.util.sizeFromShape(x.shape) > 0) lib.unary(UNARY_OP[name], heap.typedArrayFromHeap(x), heap.typedArrayFromHeap(out));
  return out;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** Inputs q, k, v [B, T, D]; attrs heads, scale; outputs [out [B, T, D], probs [B, H, T, T]]. */
function attention(args: KernelArgs, lib: Addon): tf.TensorInfo[] {
  const { q, k, v } = args.inputs as { q: tf.TensorInfo; k: tf.TensorInfo; v: tf.TensorInfo };
  const { heads, scale } = args.attrs as { heads: number; scale: number };
  const [B, T, D] = q.shape as [number, number, number];
  const heap = args.backend as WasmHeap;
  const out = heap.makeOutput([B, T, D], "float32");
  const probs = heap.makeOutput([B, heads, T, T], "float32");
  const view = (t: tf.TensorInfo) => heap.typedArrayFromHeap(t);
  lib.attention(B, T, heads, D / heads, scale, view(q), view(k), view(v), view(out), view(probs));
  return [out, probs];
}

/** Inputs q, k, v, probs, dy; attrs heads, scale; outputs [dq, dk, dv]. */
function attentionGrad(args: KernelArgs, lib: Addon): tf.TensorInfo[] {
  const { q, k, v, probs, dy } = args.inputs as Record<"q" | "k" | "v" | "probs" | "dy", tf.TensorInfo>;
  const { heads, scale } = args.attrs as { heads: number; scale: number };
  const [B, T, D] = q.shape as [number, number, number];
  const heap = args.backend as WasmHeap;
  const grads = [0, 1, 2].map(() => heap.makeOutput([B, T, D], "float32"));
  const view = (t: tf.TensorInfo) => heap.typedArrayFromHeap(t);
  lib.attentionGrad(B, T, heads, D / heads, scale, view(q), view(k), view(v), view(probs), view(dy), view(grads[0]!), view(grads[1]!), view(grads[2]!));
  return grads;
}

export interface NativeStatus {
  /** True while the native kernels are registered on the wasm backend. */
  active: boolean;
  /** 'openblas' or 'builtin' when loaded. */
  blas?: string;
  /** OpenBLAS threads. */
  threads?: number;
  /** Why the add-on is not in use. */
  reason?: string;
  kernels: string[];
}

export function nativeStatus(): NativeStatus {
  const lib = loadAddon();
  if (!lib) return { active: false, reason: loadError, kernels: [] };
  const active = originals.size > 0;
  return { active, ...lib.info(), kernels: active ? [...OVERRIDDEN, ATTENTION_KERNEL] : [] };
}

/**
 * Register (true) or remove (false) the native kernels on the wasm backend; call after the backend is
 * ready. Returns whether they are registered afterwards (false when the add-on is unavailable).
 */
export function useNativeKernels(enable: boolean): boolean {
  if (!enable) {
    for (const [name, config] of originals) {
      tf.unregisterKernel(name, "wasm");
      tf.registerKernel(config);
    }
    originals.clear();
    tf.unregisterKernel(ATTENTION_KERNEL, "wasm");
    tf.unregisterKernel(ATTENTION_GRAD_KERNEL, "wasm");
    return false;
  }
  const lib = loadAddon();
  if (!lib) return false;
  if (originals.size > 0) return true;
  for (const config of tf.getKernelsForBackend("wasm")) {
    if (!(OVERRIDDEN as readonly string[]).includes(config.kernelName)) continue;
    originals.set(config.kernelName, config);
    const name = config.kernelName;
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel({
      ...config,
      kernelFunc: name === "BatchMatMul" ? (args) => batchMatMul(args, lib) : (args) => unary(name as keyof typeof UNARY_OP, args, lib),
    });
  }
  tf.registerKernel({ kernelName: ATTENTION_KERNEL, backendName: "wasm", kernelFunc: (args) => attention(args, lib) });
  tf.registerKernel({ kernelName: ATTENTION_GRAD_KERNEL, backendName: "wasm", kernelFunc: (args) => attentionGrad(args, lib) });
  return true;
}

/** True while the native kernels are registered: BatchMatMul takes transposes at full speed and the
 * fused attention kernel exists. Cheap enough to ask per call. */
export function nativeKernelsActive(): boolean {
  return originals.size > 0 && tf.getBackend() === "wasm";
}

/** OpenBLAS threads for this process: 1 where several threads of mtx already share the cores; 0 restores
 * the default (one per core). */
export function setNativeThreads(n: number): void {
  if (!addon) return;
  addon.setThreads(n > 0 ? n : availableParallelism());
}

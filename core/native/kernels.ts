/**
 * The native kernel add-on (core/native/kernels.c), built from source by `npm ci` where the machine has a C
 * compiler, and registered as TensorFlow.js kernels on the wasm backend: BatchMatMul (every transpose and
 * batch layout, on OpenBLAS when Debian's libopenblas0 is installed, else on the add-on's own blocked
 * kernel), Tanh and Exp (vectorized through glibc's libmvec), a fused causal attention, and Identity and
 * same-dtype Cast as shared references instead of copies. They read and write the wasm heap in place.
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
  gelu(x: Float32Array, y: Float32Array): void;
  geluGrad(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  swiglu(g: Float32Array, u: Float32Array, y: Float32Array): void;
  swigluGrad(g: Float32Array, u: Float32Array, dy: Float32Array, dg: Float32Array, du: Float32Array): void;
  rmsNorm(d: number, eps: number, x: Float32Array, g: Float32Array, y: Float32Array, r: Float32Array): void;
  rmsNormGrad(d: number, x: Float32Array, g: Float32Array, r: Float32Array, dy: Float32Array, dx: Float32Array, dg: Float32Array): void;
  crossEntropy(v: number, logits: Float32Array, targets: Int32Array, loss: Float32Array, lse: Float32Array): void;
  crossEntropyGrad(v: number, logits: Float32Array, targets: Int32Array, lse: Float32Array, dy: Float32Array, dlogits: Float32Array): void;
  embedding(d: number, table: Float32Array, ids: Int32Array, out: Float32Array): void;
  embeddingGrad(d: number, ids: Int32Array, dy: Float32Array, dtable: Float32Array): void;
  adamw(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, p1: Float32Array, m1: Float32Array, v1: Float32Array, hyper: number[]): number;
  setThreads(n: number): void;
  info(): { blas: string; threads: number; cpuLevel: number; buildLevel: number };
}

/** The wasm backend's heap access (tfjs-backend-wasm's BackendWasm). */
interface WasmHeap {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array;
}

const BUILD_DIR = join(PACKAGE_ROOT, "core", "native", "build", "Release");
/** The portable build (x86-64 baseline, or the platform's default) and, on x86-64, builds for levels 3 and 4. */
const ADDON_PATH = join(BUILD_DIR, "mtx_kernels.node");
const LEVEL_BUILDS: [number, string][] = [
  [4, join(BUILD_DIR, "mtx_kernels_v4.node")],
  [3, join(BUILD_DIR, "mtx_kernels_v3.node")],
];
const OVERRIDDEN = ["BatchMatMul", "Tanh", "Exp", "Identity", "Cast"] as const;
/** Kernels the add-on adds (no wasm counterpart), each with its gradient kernel. */
export const ATTENTION_KERNEL = "MtxCausalAttention";
export const ATTENTION_GRAD_KERNEL = "MtxCausalAttentionGrad";
export const GELU_KERNEL = "MtxGelu";
export const GELU_GRAD_KERNEL = "MtxGeluGrad";
export const SWIGLU_KERNEL = "MtxSwiglu";
export const SWIGLU_GRAD_KERNEL = "MtxSwigluGrad";
export const RMSNORM_KERNEL = "MtxRmsNorm";
export const RMSNORM_GRAD_KERNEL = "MtxRmsNormGrad";
export const XENT_KERNEL = "MtxCrossEntropy";
export const XENT_GRAD_KERNEL = "MtxCrossEntropyGrad";
export const EMBEDDING_KERNEL = "MtxEmbedding";
export const EMBEDDING_GRAD_KERNEL = "MtxEmbeddingGrad";
export const ADAMW_KERNEL = "MtxAdamW";
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
    const require = createRequire(import.meta.url);
    // The portable build runs on any CPU of the architecture; it says which level this CPU supports, and
    // the fastest build for that level (AVX2/FMA at 3, AVX-512 at 4) is loaded instead. A node_modules
    // moved to an older CPU so falls back rather than faulting on an illegal instruction.
    addon = require(ADDON_PATH) as Addon;
    // MTX_NATIVE_LEVEL caps the level (1: the portable build), to compare builds or work around one.
    const cap = Number(process.env.MTX_NATIVE_LEVEL ?? Infinity);
    const level = Math.min(addon.info().cpuLevel, Number.isFinite(cap) ? cap : Infinity);
    const best = LEVEL_BUILDS.find(([l, path]) => l <= level && existsSync(path));
    if (best) addon = require(best[1]) as Addon;
  } catch (e) {
    loadError = `failed to load: ${(e as Error).message}`;
    addon = null;
  }
  return addon;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function batchMatMul(args: KernelArgs, lib: Addon): tf.TensorInfo {
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
  lib.gemm(batch, m, n, k, transposeA ? 1 : 0, transposeB ? 1 : 0, heap.typedArrayFromHeap(a) as Float32Array, batchA === 1 ? 0 : m * k, heap.typedArrayFromHeap(b) as Float32Array, batchB === 1 ? 0 : k * n, heap.typedArrayFromHeap(out) as Float32Array);
  return out;
}

function unary(name: keyof typeof UNARY_OP, args: KernelArgs, lib: Addon): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype !== "float32") return originals.get(name)!.kernelFunc(args as never) as tf.TensorInfo;
  const heap = args.backend as WasmHeap;
  const out = heap.makeOutput(x.shape, "float32");
  if (tf.util.sizeFromShape(x.shape) > 0) lib.unary(UNARY_OP[name], heap.typedArrayFromHeap(x) as Float32Array, heap.typedArrayFromHeap(out) as Float32Array);
  return out;
}

type Views = (t: tf.TensorInfo) => Float32Array;
type AddedKernel = (inputs: Record<string, tf.TensorInfo>, attrs: Record<string, number>, out: (shape: number[]) => tf.TensorInfo, f32: Views, i32: (t: tf.TensorInfo) => Int32Array, lib: Addon) => tf.TensorInfo[];

/**
 * The kernels the add-on adds. Outputs are allocated first (`out`), views taken after (`f32`, `i32`):
 * an allocation can grow the heap and detach earlier views.
 */
const ADDED: Record<string, AddedKernel> = {
  /** q, k, v [B, T, D]; attrs heads, scale -> out [B, T, D], probs [B, H, T, T]. */
  [ATTENTION_KERNEL]: ({ q, k, v }, { heads, scale }, out, f32, _i32, lib) => {
    const [B, T, D] = q!.shape as [number, number, number];
    const o = out([B, T, D]);
    const probs = out([B, heads!, T, T]);
    lib.attention(B, T, heads!, D / heads!, scale!, f32(q!), f32(k!), f32(v!), f32(o), f32(probs));
    return [o, probs];
  },
  /** q, k, v, probs, dy -> dq, dk, dv. */
  [ATTENTION_GRAD_KERNEL]: ({ q, k, v, probs, dy }, { heads, scale }, out, f32, _i32, lib) => {
    const [B, T, D] = q!.shape as [number, number, number];
    const g = [out([B, T, D]), out([B, T, D]), out([B, T, D])];
    lib.attentionGrad(B, T, heads!, D / heads!, scale!, f32(q!), f32(k!), f32(v!), f32(probs!), f32(dy!), f32(g[0]!), f32(g[1]!), f32(g[2]!));
    return g;
  },
  /** x -> gelu(x), tanh form. */
  [GELU_KERNEL]: ({ x }, _a, out, f32, _i32, lib) => {
    const y = out(x!.shape);
    lib.gelu(f32(x!), f32(y));
    return [y];
  },
  /** x, dy -> dx. */
  [GELU_GRAD_KERNEL]: ({ x, dy }, _a, out, f32, _i32, lib) => {
    const dx = out(x!.shape);
    lib.geluGrad(f32(x!), f32(dy!), f32(dx));
    return [dx];
  },
  /** gate, up -> silu(gate) * up. */
  [SWIGLU_KERNEL]: ({ g, u }, _a, out, f32, _i32, lib) => {
    const y = out(g!.shape);
    lib.swiglu(f32(g!), f32(u!), f32(y));
    return [y];
  },
  /** gate, up, dy -> dgate, dup. */
  [SWIGLU_GRAD_KERNEL]: ({ g, u, dy }, _a, out, f32, _i32, lib) => {
    const dg = out(g!.shape);
    const du = out(g!.shape);
    lib.swigluGrad(f32(g!), f32(u!), f32(dy!), f32(dg), f32(du));
    return [dg, du];
  },
  /** x [..., d], g [d]; attrs eps -> y [..., d], r [...] (the inverse RMS of each row). */
  [RMSNORM_KERNEL]: ({ x, g }, { eps }, out, f32, _i32, lib) => {
    const y = out(x!.shape);
    const r = out(x!.shape.slice(0, -1));
    lib.rmsNorm(x!.shape[x!.shape.length - 1]!, eps!, f32(x!), f32(g!), f32(y), f32(r));
    return [y, r];
  },
  /** x, g, r, dy -> dx, dg. */
  [RMSNORM_GRAD_KERNEL]: ({ x, g, r, dy }, _a, out, f32, _i32, lib) => {
    const dx = out(x!.shape);
    const dg = out(g!.shape);
    lib.rmsNormGrad(x!.shape[x!.shape.length - 1]!, f32(x!), f32(g!), f32(r!), f32(dy!), f32(dx), f32(dg));
    return [dx, dg];
  },
  /** logits [N, V], targets int32 [N] -> loss [N], lse [N]. */
  [XENT_KERNEL]: ({ logits, targets }, _a, out, f32, i32, lib) => {
    const [n, v] = logits!.shape as [number, number];
    const loss = out([n]);
    const lse = out([n]);
    lib.crossEntropy(v, f32(logits!), i32(targets!), f32(loss), f32(lse));
    return [loss, lse];
  },
  /** logits, targets, lse, dy [N] -> dlogits [N, V]. */
  [XENT_GRAD_KERNEL]: ({ logits, targets, lse, dy }, _a, out, f32, i32, lib) => {
    const dl = out(logits!.shape);
    lib.crossEntropyGrad(logits!.shape[1]!, f32(logits!), i32(targets!), f32(lse!), f32(dy!), f32(dl));
    return [dl];
  },
  /** table [V, D], ids int32 [N] -> rows [N, D]. */
  [EMBEDDING_KERNEL]: ({ table, ids }, _a, out, f32, i32, lib) => {
    const d = table!.shape[1]!;
    const rows = out([ids!.shape[0]!, d]);
    lib.embedding(d, f32(table!), i32(ids!), f32(rows));
    return [rows];
  },
  /** ids, dy [N, D]; attrs vocab -> dtable [V, D] (rows scatter-added). */
  [EMBEDDING_GRAD_KERNEL]: ({ ids, dy }, { vocab }, out, f32, i32, lib) => {
    const d = dy!.shape[1]!;
    const dt = out([vocab!, d]);
    lib.embeddingGrad(d, i32(ids!), f32(dy!), f32(dt));
    return [dt];
  },
  /**
   * p, g, m, v; attrs clip, b1, b2, bc1, bc2, eps, lr, decay (lr * wd, or 0) -> p1, m1, v1, and the sum of
   * squares of the change as a scalar.
   */
  [ADAMW_KERNEL]: ({ p, g, m, v }, a, out, f32, _i32, lib) => {
    const [p1, m1, v1, sq] = [out(p!.shape), out(p!.shape), out(p!.shape), out([])];
    const hyper = [a.clip!, a.b1!, 1 - a.b1!, a.b2!, 1 - a.b2!, a.bc1!, a.bc2!, a.eps!, a.lr!, a.decay!];
    f32(sq!)[0] = lib.adamw(f32(p!), f32(g!), f32(m!), f32(v!), f32(p1!), f32(m1!), f32(v1!), hyper);
    return [p1!, m1!, v1!, sq!];
  },
};

/** A kernel with one output returns it bare, so runKernel gives a Tensor rather than a one-element array. */
function runAdded(kernel: AddedKernel, args: KernelArgs, lib: Addon): tf.TensorInfo | tf.TensorInfo[] {
  const heap = args.backend as WasmHeap;
  for (const [name, t] of Object.entries(args.inputs)) {
    const want = name === "targets" || name === "ids" ? "int32" : "float32";
    if (t!.dtype !== want) throw new Error(`mtx native kernels: input '${name}' must be ${want}, got ${t!.dtype}`);
  }
  const outputs = kernel(
    args.inputs as Record<string, tf.TensorInfo>,
    (args.attrs ?? {}) as Record<string, number>,
    (shape) => heap.makeOutput(shape, "float32"),
    (t) => heap.typedArrayFromHeap(t) as Float32Array,
    (t) => heap.typedArrayFromHeap(t) as Int32Array,
    lib,
  );
  return outputs.length === 1 ? outputs[0]! : outputs;
}

/** The wasm backend's reference counting (tfjs-backend-wasm's BackendWasm). */
interface WasmRefs {
  incRef(dataId: tf.DataId): void;
}

/**
 * Identity and same-dtype Cast as a shared reference, as tfjs's cpu backend does them; wasm copies the
 * data. Autograd clones every tensor it saves for the backward pass through Identity, so on the larger
 * bench shape the copies were ~120 ms of a ~2 s step. Tensors are immutable (Variable.assign swaps the
 * data, it does not write into it), so sharing is safe.
 */
function sharedCopy(name: "Identity" | "Cast", args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const dtype = name === "Cast" ? (args.attrs as { dtype: tf.DataType }).dtype : x.dtype;
  if (x.dtype === "string" || dtype !== x.dtype) return originals.get(name)!.kernelFunc(args as never) as tf.TensorInfo;
  (args.backend as WasmRefs).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export interface NativeStatus {
  /** True while the native kernels are registered on the wasm backend. */
  active: boolean;
  /** 'openblas' or 'builtin' when loaded. */
  blas?: string;
  /** OpenBLAS threads. */
  threads?: number;
  /** The x86-64 level of this CPU and of the build in use (1 portable, 3 AVX2/FMA, 4 AVX-512; 0 not x86-64). */
  cpuLevel?: number;
  buildLevel?: number;
  /** Why the add-on is not in use. */
  reason?: string;
  kernels: string[];
}

export function nativeStatus(): NativeStatus {
  const lib = loadAddon();
  if (!lib) return { active: false, reason: loadError, kernels: [] };
  const active = originals.size > 0;
  return { active, ...lib.info(), kernels: active ? [...OVERRIDDEN, ...Object.keys(ADDED).filter((k) => !k.endsWith("Grad"))] : [] };
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
    for (const name of Object.keys(ADDED)) tf.unregisterKernel(name, "wasm");
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
      kernelFunc:
        name === "BatchMatMul"
          ? (args) => batchMatMul(args, lib)
          : name === "Identity" || name === "Cast"
            ? (args) => sharedCopy(name, args)
            : (args) => unary(name as keyof typeof UNARY_OP, args, lib),
    });
  }
  for (const [name, kernel] of Object.entries(ADDED)) tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: (args) => runAdded(kernel, args, lib) });
  return true;
}

/** True while the native kernels are registered: BatchMatMul takes transposes at full speed and the
 * fused attention kernel exists. Cheap enough to ask per call. */
export function nativeKernelsActive(): boolean {
  return originals.size > 0 && tf.getBackend() === "wasm";
}

let reserved = 0;

/**
 * Another compute thread of this process (a data-parallel replica, a running probe task) takes `count`
 * cores from the native kernels until the returned function releases them: the kernels use
 * max(1, cores - reserved) threads. The add-on's thread count is per process, shared by all threads, and
 * OpenBLAS threads that share a core with other work spin-wait and slow everything down.
 */
export function reserveCores(count = 1): () => void {
  const lib = loadAddon();
  if (!lib || count <= 0) return () => {};
  reserved += count;
  lib.setThreads(Math.max(1, availableParallelism() - reserved));
  let released = false;
  return () => {
    if (released) return;
    released = true;
    reserved -= count;
    lib.setThreads(Math.max(1, availableParallelism() - reserved));
  };
}

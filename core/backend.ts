/**
 * Chooses the TensorFlow.js backend. `auto` prefers the native TensorFlow bindings when the user installed
 * them (they download libtensorflow at install time, so they are optional and loaded by dynamic import),
 * and falls back to WebAssembly, which installs anywhere and is ~25x faster than the pure-JS 'cpu' backend.
 */
import * as tf from "@tensorflow/tfjs";
import { BackendError } from "./errors.js";
import { nativeStatus, useNativeKernels } from "./native/kernels.js";

export type BackendChoice = "auto" | "wasm" | "cpu" | "tensorflow" | "tensorflow-gpu";

export interface BackendInfo {
  /** The choice as requested. */
  requested: BackendChoice;
  /** The tfjs backend name in use ('wasm', 'cpu', 'tensorflow'). */
  name: string;
  /** The package that provides it. */
  package: string;
  /** Kernels and features in use, e.g. wasm SIMD. */
  features: string[];
}

let current: BackendInfo | undefined;

async function tryImport(name: string): Promise<boolean> {
  try {
    await import(name);
    return true;
  } catch {
    return false;
  }
}

async function useWasm(requested: BackendChoice): Promise<BackendInfo> {
  await import("@tensorflow/tfjs-backend-wasm");
  if (!(await tf.setBackend("wasm"))) throw new BackendError("the wasm backend failed to initialise");
  await tf.ready();
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
  // wasm threads are disabled under Node: the threaded build needs SharedArrayBuffer workers tfjs does not start.
  const features = [simd ? "simd" : "no-simd", "1 wasm thread"];
  if (useNativeKernels(true)) {
    const s = nativeStatus();
    const build = s.buildLevel ? `, x86-64-v${s.buildLevel} build` : "";
    features.push(`native ${s.kernels.join("/")} (${s.blas === "openblas" ? `OpenBLAS, ${s.threads} threads` : "built-in sgemm"}${build})`);
  } else {
    features.push(`no native kernels: ${nativeStatus().reason}`);
  }
  return { requested, name: "wasm", package: "@tensorflow/tfjs-backend-wasm", features };
}

/**
 * Initialise the backend once per process (or worker thread). Calling again with the same choice is free;
 * a different choice switches the backend.
 */
export async function initBackend(requested: BackendChoice = "auto"): Promise<BackendInfo> {
  if (current && current.requested === requested) return current;
  let info: BackendInfo;
  switch (requested) {
    case "wasm":
      info = await useWasm(requested);
      break;
    case "cpu":
      await tf.setBackend("cpu");
      await tf.ready();
      // The cpu backend prints a banner recommending tfjs-node on first use; mtx reports the backend itself.
      (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
      info = { requested, name: "cpu", package: "@tensorflow/tfjs", features: ["pure JS"] };
      break;
    case "tensorflow":
    case "tensorflow-gpu": {
      const pkg = requested === "tensorflow-gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
      if (!(await tryImport(pkg))) {
        throw new BackendError(
          `backend '${requested}' needs ${pkg}, which is not installed (it downloads libtensorflow at install time). ` +
            `Install it with 'npm install ${pkg}' on a machine with internet access, or use --backend wasm.`,
        );
      }
      await tf.setBackend("tensorflow");
      await tf.ready();
      info = { requested, name: "tensorflow", package: pkg, features: [] };
      break;
    }
    case "auto": {
      let found: string | undefined;
      for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
        if (await tryImport(pkg)) {
          found = pkg;
          break;
        }
      }
      if (found && (await tf.setBackend("tensorflow"))) {
        await tf.ready();
        info = { requested, name: "tensorflow", package: found, features: [] };
      } else {
        info = await useWasm(requested);
      }
      break;
    }
    default:
      throw new BackendError(`unknown backend '${String(requested)}': use auto, wasm, cpu, tensorflow or tensorflow-gpu`);
  }
  current = info;
  return info;
}

/** The backend initialised by {@link initBackend}, if any. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

/** One line for logs: `wasm (@tensorflow/tfjs-backend-wasm; simd, 1 wasm thread, native ...)`. */
export function describeBackend(info: BackendInfo): string {
  const f = info.features.length ? `; ${info.features.join(", ")}` : "";
  return `${info.name} (${info.package}${f})`;
}

/** How each part of the model computes on `info`'s backend: printed at start and kept in summary.json. */
export function kernelsInUse(info: BackendInfo | undefined): Record<string, string> {
  const wasm = info?.name === "wasm";
  const native = nativeStatus();
  const fast = wasm && native.active;
  const sgemm = native.blas === "openblas" ? `OpenBLAS sgemm, ${native.threads} thread${native.threads === 1 ? "" : "s"}` : "built-in sgemm";
  return {
    backend: info ? describeBackend(info) : "none",
    matmul: !wasm ? "backend MatMul" : fast ? `native BatchMatMul (${sgemm}), transposes as flags` : "2-D MatMul on XNNPACK, backward with explicit transposes (customGrad linear)",
    attention: fast ? `native fused causal attention on [B, T, D], ${native.threads} thread${native.threads === 1 ? "" : "s"} over heads (customGrad)` : "rank-3 batched MatMul with a causal mask (customGrad)",
    layers: fast ? "native fused RMSNorm, GELU and cross-entropy, forward and backward (customGrad)" : "tfjs ops (RMSNorm, GELU by autograd; cross-entropy customGrad)",
    elementwise: fast ? "tfjs kernels; Tanh and Exp native (libmvec); Identity and Cast share data instead of copying" : "tfjs kernels",
    embedding: fast ? "native gather and scatter-add (customGrad)" : "gather forward, scatter-add backward in JS (customGrad)",
    decoding: "key/value cache",
  };
}

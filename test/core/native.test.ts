/**
 * The native kernels (core/native) against the plain wasm kernels they replace: every BatchMatMul layout,
 * Tanh, Exp, the fused attention, GELU, RMSNorm, cross-entropy and embedding with their gradients, AdamW, then whole training runs (losses within 1e-4
 * relative of the plain kernels' run, deterministic on the fast path). The add-on must have been built by
 * `npm ci` on any machine with a C compiler; MTX_NATIVE=0 checks the fallback instead.
 */
import * as tf from "@tensorflow/tfjs";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../core/backend.js";
import { causalAttention, crossEntropy, embedding, fusedCausalAttention, geluTanh, rmsNorm, swiglu } from "../../core/model/layers.js";
import { nativeKernelsActive, nativeStatus, reserveCores, useNativeKernels } from "../../core/native/kernels.js";
import { availableParallelism } from "node:os";
import { AdamW } from "../../core/optim/AdamW.js";
import { tempDir } from "../helpers/cli.js";
import { tinyRun } from "../helpers/trainer.js";

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
const maxRel = (a: tf.Tensor, b: tf.Tensor) => maxAbs(a, b) / Math.max(1e-6, tf.tidy(() => tf.max(tf.abs(b)).dataSync()[0]!));

/** Runs `f` once on the plain wasm kernels and once on the native ones. */
function both<T>(f: () => T): { plain: T; native: T } {
  useNativeKernels(false);
  const plain = f();
  expect(useNativeKernels(true)).toBe(true);
  return { plain, native: f() };
}

describe.skipIf(process.env.MTX_NATIVE === "0")("native kernels", () => {
  beforeAll(async () => {
    await initBackend("wasm");
  });

  it("were built at install and are registered on the wasm backend", () => {
    const s = nativeStatus();
    expect(s.reason).toBeUndefined();
    expect(s.active).toBe(true);
    expect(s.kernels).toEqual(["BatchMatMul", "Tanh", "Exp", "Identity", "Cast", "MtxCausalAttention", "MtxGelu", "MtxSwiglu", "MtxRmsNorm", "MtxCrossEntropy", "MtxEmbedding", "MtxAdamW"]);
    expect(["openblas", "builtin"]).toContain(s.blas);
  });

  it("leaves a core to each other compute thread while it runs, and gives it back", () => {
    const cores = availableParallelism();
    expect(nativeStatus().threads).toBe(cores);
    const release = reserveCores(1);
    expect(nativeStatus().threads).toBe(Math.max(1, cores - 1));
    const releaseMany = reserveCores(cores + 3);
    expect(nativeStatus().threads).toBe(1);
    releaseMany();
    release();
    release();
    expect(nativeStatus().threads).toBe(cores);
  });

  it("BatchMatMul matches the wasm kernel in every transpose and batch layout", () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[37, 19], [19, 23], false, false],
      [[37, 19], [23, 19], false, true],
      [[19, 37], [19, 23], true, false],
      [[19, 37], [23, 19], true, true],
      [[4, 17, 9], [4, 9, 13], false, false],
      [[2, 3, 9, 17], [13, 9], true, true],
      [[1, 17, 9], [5, 9, 13], false, false],
      [[0, 9], [9, 4], false, false],
      [[300, 200], [200, 100], false, false],
    ];
    for (const [sa, sb, ta, tb] of cases) {
      const a = tf.randomNormal(sa, 0, 1, "float32", 1);
      const b = tf.randomNormal(sb, 0, 1, "float32", 2);
      const { plain, native } = both(() => tf.matMul(a, b, ta, tb));
      expect(native.shape).toEqual(plain.shape);
      if (plain.size) expect(maxRel(native, plain)).toBeLessThan(1e-5);
    }
  });

  it("Tanh and Exp match the wasm kernels to float rounding", () => {
    const x = tf.randomNormal([5000], 0, 4, "float32", 3);
    for (const f of [tf.tanh, tf.exp] as const) {
      const { plain, native } = both(() => f(x));
      const rel = tf.tidy(() => tf.max(tf.div(tf.abs(tf.sub(native, plain)), tf.maximum(tf.abs(plain), 1e-30))).dataSync()[0]!);
      expect(rel).toBeLessThan(1e-6);
    }
  });

  it("fused attention equals split-head attention, forward and backward", () => {
    const [B, T, H, hd] = [3, 20, 4, 8];
    const D = H * hd;
    const q = tf.randomNormal([B, T, D], 0, 1, "float32", 4) as tf.Tensor3D;
    const k = tf.randomNormal([B, T, D], 0, 1, "float32", 5) as tf.Tensor3D;
    const v = tf.randomNormal([B, T, D], 0, 1, "float32", 6) as tf.Tensor3D;
    const w = tf.randomNormal([B, T, D], 0, 1, "float32", 7);
    const heads = (x: tf.Tensor) => tf.reshape(tf.transpose(tf.reshape(x, [B, T, H, hd]), [0, 2, 1, 3]), [B * H, T, hd]) as tf.Tensor3D;
    const merge = (o: tf.Tensor) => tf.reshape(tf.transpose(tf.reshape(o, [B, H, T, hd]), [0, 2, 1, 3]), [B, T, D]);
    const mask = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9) as tf.Tensor2D;
    // The reference on the plain kernels; the loss weights every output so every gradient path is used.
    useNativeKernels(false);
    const ref = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => tf.sum(tf.mul(merge(causalAttention(heads(qq), heads(kk), heads(vv), mask)), w));
    const refOut = merge(causalAttention(heads(q), heads(k), heads(v), mask));
    const refGrads = tf.grads(ref)([q, k, v]);
    useNativeKernels(true);
    const fused = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => tf.sum(tf.mul(fusedCausalAttention(qq as tf.Tensor3D, kk as tf.Tensor3D, vv as tf.Tensor3D, H), w));
    expect(maxRel(fusedCausalAttention(q, k, v, H), refOut)).toBeLessThan(1e-5);
    const grads = tf.grads(fused)([q, k, v]);
    grads.forEach((g, i) => expect(maxRel(g, refGrads[i]!)).toBeLessThan(1e-4));
    // Causality: changing the last position's key and value leaves every earlier output unchanged.
    const k2 = tf.concat([tf.slice(k, [0, 0, 0], [B, T - 1, D]), tf.onesLike(tf.slice(k, [0, T - 1, 0], [B, 1, D]))], 1) as tf.Tensor3D;
    const early = (o: tf.Tensor) => tf.slice(o, [0, 0, 0], [B, T - 1, D]);
    expect(maxAbs(early(fusedCausalAttention(q, k2, v, H)), early(fusedCausalAttention(q, k, v, H)))).toBe(0);
  });

  it("fused GELU, SwiGLU, RMSNorm, cross-entropy and embedding equal the tfjs formulation, forward and backward", () => {
    const x = tf.randomNormal([6, 5, 24], 0, 2, "float32", 8);
    const gain = tf.randomNormal([24], 1, 0.3, "float32", 9);
    const w = tf.randomNormal([6, 5, 24], 0, 1, "float32", 10);
    const targets = Int32Array.from({ length: 30 }, (_, i) => (i * 7) % 24);
    const dyLoss = tf.randomNormal([30], 0, 1, "float32", 11);
    const cases: [string, (...t: tf.Tensor[]) => tf.Tensor, tf.Tensor[]][] = [
      ["gelu", (a) => tf.sum(tf.mul(geluTanh(a!), w)), [x]],
      ["swiglu", (g, u) => tf.sum(tf.mul(swiglu(g!, u!), w)), [x, tf.randomNormal([6, 5, 24], 0, 1.5, "float32", 12)]],
      ["rmsNorm", (a, g) => tf.sum(tf.mul(rmsNorm(a!, g as tf.Tensor1D, 1e-5), w)), [x, gain]],
      ["crossEntropy", (a) => tf.sum(tf.mul(crossEntropy(tf.reshape(a!, [30, 24]) as tf.Tensor2D, targets), dyLoss)), [x]],
      // Repeated ids: their gradient rows add up.
      ["embedding", (t) => tf.sum(tf.mul(embedding(t as tf.Tensor2D, targets), tf.reshape(w, [30, 8, 3]).reshape([30, 24]))), [tf.reshape(x, [30, 24])]],
    ];
    for (const [name, f, inputs] of cases) {
      const { plain, native } = both(() => ({ value: f(...inputs), grads: tf.grads(f)(inputs) }));
      expect(maxRel(native.value, plain.value), name).toBeLessThan(1e-5);
      native.grads.forEach((g, i) => expect(maxRel(g, plain.grads[i]!), `${name} gradient ${i}`).toBeLessThan(1e-5));
    }
  });

  it("the fused AdamW step equals the tfjs formulation, with clipping, weight decay and bias correction", () => {
    const cfg = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1, noDecay: ["*.norm*"] } as never;
    const run = () => {
      const params = new Map([
        ["w", tf.variable(tf.randomNormal([40, 30], 0, 1, "float32", 12))],
        ["a.norm1", tf.variable(tf.randomNormal([30], 1, 0.1, "float32", 13))],
      ]);
      const opt = new AdamW(params, cfg);
      const stats = [1, 2, 3].map((i) => opt.apply({ w: tf.randomNormal([40, 30], 0, i, "float32", 14 + i), "a.norm1": tf.randomNormal([30], 0, i, "float32", 20 + i) }, 1e-3 * i));
      return { params: [...params.values()].map((p) => p.clone()), state: opt.exportState(), stats };
    };
    const { plain, native } = both(run);
    native.params.forEach((p, i) => expect(maxRel(p, plain.params[i]!)).toBeLessThan(1e-6));
    for (const which of ["m", "v"] as const)
      for (const [name, data] of native.state[which]) expect(maxRel(tf.tensor(data), tf.tensor(plain.state[which].get(name)!))).toBeLessThan(1e-5);
    native.stats.forEach((s, i) => {
      expect(s.clipScale).toBe(plain.stats[i]!.clipScale);
      expect(s.clipScale).toBeLessThan(1);
      expect(Math.abs(s.updateNorm - plain.stats[i]!.updateNorm) / plain.stats[i]!.updateNorm).toBeLessThan(1e-5);
    });
  });

  it("rejects a target outside the vocabulary instead of reading past the logits", () => {
    expect(useNativeKernels(true)).toBe(true);
    expect(() => crossEntropy(tf.zeros([2, 8]) as tf.Tensor2D, Int32Array.from([1, 8]))).toThrow(/outside the vocabulary/);
    expect(() => embedding(tf.zeros([4, 3]) as tf.Tensor2D, Int32Array.from([0, -1]))).toThrow(/outside the embedding table/);
  });

  it("training on the native kernels follows the plain kernels' losses within 1e-4 and is deterministic", async () => {
    useNativeKernels(false);
    const plain = await tinyRun({ steps: 6 });
    expect(plain.summary.kernels?.attention).toMatch(/rank-3/);
    expect(useNativeKernels(true)).toBe(true);
    const native = await tinyRun({ steps: 6 });
    const again = await tinyRun({ steps: 6 });
    expect(nativeKernelsActive()).toBe(true);
    expect(native.summary.kernels?.attention).toMatch(/fused/);
    expect(again.metrics.map((m) => m.loss)).toEqual(native.metrics.map((m) => m.loss));
    expect(native.metrics).toHaveLength(6);
    expect(plain.metrics).toHaveLength(6);
    native.metrics.forEach((m, i) => expect(Math.abs(m.loss - plain.metrics[i]!.loss) / plain.metrics[i]!.loss).toBeLessThan(1e-4));
  });
});

describe("native kernels unavailable", () => {
  it("the install step reports a failed build in one line, exits 0, and mtx trains on the plain kernels", () => {
    // A copy of the add-on's sources with a compiler that does not exist.
    const root = tempDir("mtx-native-nocc-");
    mkdirSync(join(root, "scripts"));
    cpSync("scripts/build-native.mjs", join(root, "scripts", "build-native.mjs"));
    cpSync("core/native", join(root, "core", "native"), { recursive: true, filter: (src) => !src.includes("build") });
    const r = spawnSync(process.execPath, [join(root, "scripts", "build-native.mjs")], { encoding: "utf8", env: { ...process.env, CC: "/nonexistent/cc", CXX: "/nonexistent/c++" } });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/native kernels not built \(.+\); training will use the plain wasm kernels/);
    expect(existsSync(join(root, "core", "native", "build"))).toBe(false);
    const strict = spawnSync(process.execPath, [join(root, "scripts", "build-native.mjs"), "--strict"], { encoding: "utf8", env: { ...process.env, CC: "/nonexistent/cc" } });
    expect(strict.status).toBe(1);
    // MTX_NATIVE=0 keeps a run on the plain kernels and says why at start.
    const run = spawnSync(process.execPath, ["dist/cli/bin.js", "backend"], { encoding: "utf8", env: { ...process.env, MTX_NATIVE: "0" } });
    expect(run.stdout + run.stderr).toMatch(/no native kernels: disabled by MTX_NATIVE=0/);
  });
});

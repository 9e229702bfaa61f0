// Each custom gradient in layers.ts must equal autograd of the plain formulation (on the 'cpu' backend,
// whose kernels are the reference), and the wasm forward must match cpu.
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../core/backend.js";
import { applyRope, causalAttention, crossEntropy, embedding, linear } from "../../../core/model/layers.js";
import { inverseFrequencies, ropeTables } from "../../../core/model/rope.js";

const normal = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, "float32", seed);

/** Max abs difference of values and of every input gradient. */
function maxDiff(custom: (...x: tf.Tensor[]) => tf.Tensor, reference: (...x: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): number {
  return tf.tidy(() => {
    const gc = tf.grads((...x: tf.Tensor[]) => tf.sum(tf.sin(custom(...x))))(inputs);
    const gr = tf.grads((...x: tf.Tensor[]) => tf.sum(tf.sin(reference(...x))))(inputs);
    let m = tf.max(tf.abs(tf.sub(custom(...inputs), reference(...inputs)))).dataSync()[0]!;
    gc.forEach((g, i) => (m = Math.max(m, tf.max(tf.abs(tf.sub(g, gr[i]!))).dataSync()[0]!)));
    return m;
  });
}

function rotateHalfBySlices(x: tf.Tensor3D, heads: number, hd: number): tf.Tensor3D {
  const parts: tf.Tensor[] = [];
  for (let h = 0; h < heads; h++) {
    const a = tf.slice(x, [0, 0, h * hd], [-1, -1, hd / 2]);
    const b = tf.slice(x, [0, 0, h * hd + hd / 2], [-1, -1, hd / 2]);
    parts.push(tf.neg(b), a);
  }
  return tf.concat(parts, 2) as tf.Tensor3D;
}

describe("custom-gradient layers match autograd on the cpu backend", () => {
  beforeAll(async () => {
    await initBackend("cpu");
  });

  it("linear", () => {
    const d = maxDiff((x, w) => linear(x as tf.Tensor2D, w as tf.Tensor2D), (x, w) => tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), [normal([6, 5], 1), normal([5, 4], 2)]);
    expect(d).toBeLessThan(1e-5);
  });

  it("embedding (gather forward, scatter-add backward)", () => {
    const ids = Int32Array.from([1, 3, 3, 0, 6, 3]);
    const d = maxDiff((e) => embedding(e as tf.Tensor2D, ids), (e) => tf.matMul(tf.cast(tf.oneHot(tf.tensor1d(ids, "int32"), 7), "float32"), e as tf.Tensor2D), [normal([7, 3], 3)]);
    expect(d).toBeLessThan(1e-5);
  });

  it("rotary embedding equals x*cos + rotateHalf(x)*sin", () => {
    const rt = ropeTables(5, 2, 4, { base: 10000 });
    const d = maxDiff(
      (x) => applyRope(x as tf.Tensor3D, rt.cos, rt.sin, rt.rot, rt.rotT),
      (x) => tf.add(tf.mul(x, rt.cos), tf.mul(rotateHalfBySlices(x as tf.Tensor3D, 2, 4), rt.sin)),
      [normal([2, 5, 8], 4)],
    );
    expect(d).toBeLessThan(1e-5);
  });

  it("causal attention", () => {
    const mask = tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([5, 5]), -1, 0)), -1e9) as tf.Tensor2D;
    const d = maxDiff(
      (q, k, v) => causalAttention(q as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, mask),
      (q, k, v) => tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(q!, k!, false, true), 0.5), mask)), v!),
      [normal([3, 5, 4], 5), normal([3, 5, 4], 6), normal([3, 5, 4], 7)],
    );
    expect(d).toBeLessThan(1e-5);
  });

  it("cross-entropy per token", () => {
    const targets = Int32Array.from([0, 8, 3, 3, 2, 1]);
    const weights = tf.range(1, 7);
    const d = maxDiff(
      (l) => tf.mul(crossEntropy(l as tf.Tensor2D, targets), weights),
      (l) => tf.mul(tf.neg(tf.sum(tf.mul(tf.logSoftmax(l!), tf.cast(tf.oneHot(tf.tensor1d(targets, "int32"), 9), "float32")), -1)), weights),
      [normal([6, 9], 8)],
    );
    expect(d).toBeLessThan(1e-5);
  });

  it("cross-entropy of uniform logits is ln V", () => {
    const v = crossEntropy(tf.zeros([2, 16]) as tf.Tensor2D, Int32Array.from([3, 9])).dataSync();
    expect(v[0]).toBeCloseTo(Math.log(16), 5);
    expect(v[1]).toBeCloseTo(Math.log(16), 5);
  });

  it("RoPE inverse frequencies follow base^(-2i/d)", () => {
    const inv = inverseFrequencies(8, { base: 10000 });
    expect(Array.from(inv)).toEqual([1, 10000 ** -0.25, 10000 ** -0.5, 10000 ** -0.75].map((x) => expect.closeTo(x, 12)));
  });
});

import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../core/backend.js";
import type { OptimizerConfig } from "../../../core/config/types.js";
import { AdamW, matchesPattern } from "../../../core/optim/AdamW.js";

const cfg: OptimizerConfig = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 0, noDecay: ["embed.*", "*norm*"] };

/** torch.optim.AdamW's update, written out in plain numbers. */
function reference(theta: number[], grads: number[][], lr: number, wd: number) {
  let m = theta.map(() => 0);
  let v = theta.map(() => 0);
  let p = [...theta];
  grads.forEach((g, k) => {
    const t = k + 1;
    p = p.map((x) => x - lr * wd * x);
    m = m.map((mi, i) => 0.9 * mi + 0.1 * g[i]!);
    v = v.map((vi, i) => 0.95 * vi + 0.05 * g[i]! * g[i]!);
    p = p.map((x, i) => x - (lr * (m[i]! / (1 - 0.9 ** t))) / (Math.sqrt(v[i]! / (1 - 0.95 ** t)) + 1e-8));
  });
  return p;
}

describe("AdamW", () => {
  beforeAll(async () => {
    await initBackend("wasm");
  });

  it("matches the reference update over three steps, with and without decay", () => {
    const theta = [0.5, -1, 2];
    const grads = [[0.1, -0.2, 0.3], [0.05, 0.1, -0.4], [-0.3, 0.2, 0.1]];
    const params = new Map([["blocks.0.mlp.w1", tf.variable(tf.tensor1d(theta))], ["embed.weight", tf.variable(tf.tensor1d(theta))]]);
    const opt = new AdamW(params, cfg);
    for (const g of grads) opt.apply({ "blocks.0.mlp.w1": tf.tensor1d(g), "embed.weight": tf.tensor1d(g) }, 0.01);
    const decayed = reference(theta, grads, 0.01, 0.1);
    const plain = reference(theta, grads, 0.01, 0);
    Array.from(params.get("blocks.0.mlp.w1")!.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(decayed[i]!, 5));
    Array.from(params.get("embed.weight")!.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(plain[i]!, 5));
    expect(opt.step).toBe(3);
  });

  it("clips to the global norm and reports norms", () => {
    const p = new Map([["a", tf.variable(tf.tensor1d([0, 0]))]]);
    const opt = new AdamW(p, { ...cfg, gradClip: 1, weightDecay: 0 });
    const stats = opt.apply({ a: tf.tensor1d([3, 4]) }, 0.1);
    expect(stats.gradNorm).toBeCloseTo(5, 5);
    expect(stats.clipScale).toBeCloseTo(0.2, 5);
    // First Adam step moves each coordinate by ~lr regardless of scale.
    expect(stats.updateNorm).toBeCloseTo(0.1 * Math.SQRT2, 4);
  });

  it("exports and imports the full state so a continued run is identical", () => {
    const mk = () => new Map([["w", tf.variable(tf.tensor1d([1, 2, 3]))]]);
    const a = mk();
    const optA = new AdamW(a, cfg);
    optA.apply({ w: tf.tensor1d([0.1, 0.2, 0.3]) }, 0.01);
    const b = mk();
    b.get("w")!.assign(a.get("w")!);
    const optB = new AdamW(b, cfg);
    optB.importState(optA.exportState());
    optA.apply({ w: tf.tensor1d([-0.1, 0.5, 0.3]) }, 0.01);
    optB.apply({ w: tf.tensor1d([-0.1, 0.5, 0.3]) }, 0.01);
    expect(Array.from(b.get("w")!.dataSync())).toEqual(Array.from(a.get("w")!.dataSync()));
    expect(optB.step).toBe(2);
  });

  it("leaves parameters without gradients (frozen) untouched and stateless", () => {
    const p = new Map([["a", tf.variable(tf.tensor1d([1]))], ["frozen", tf.variable(tf.tensor1d([1]))]]);
    const opt = new AdamW(p, cfg);
    opt.apply({ a: tf.tensor1d([1]) }, 0.1);
    expect(p.get("frozen")!.dataSync()[0]).toBe(1);
    expect([...opt.exportState().m.keys()]).toEqual(["a"]);
  });

  it("matches name patterns with wildcards", () => {
    expect(matchesPattern("blocks.1.norm2.weight", "*norm*")).toBe(true);
    expect(matchesPattern("embed.weight", "embed.*")).toBe(true);
    expect(matchesPattern("blocks.1.attn.wq", "*norm*")).toBe(false);
  });
});

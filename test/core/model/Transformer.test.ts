import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { initBackend } from "../../../core/backend.js";
import type { ModelConfig } from "../../../core/config/types.js";
import { parameterSpecs, Transformer, validateModelConfig } from "../../../core/model/Transformer.js";
import { createRng } from "../../../core/rng.js";

const cfg: ModelConfig = { vocabSize: 50, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 8, ropeBase: 10000, qkNorm: false, zLoss: 0, tiedEmbeddings: false, normEps: 1e-5, initStd: 0.02 };

function lossOn(backend: "cpu" | "wasm", c: ModelConfig) {
  return async () => {
    await initBackend(backend);
    const m = Transformer.init(c, createRng(3, "init"));
    const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 50);
    const tg = Int32Array.from({ length: 16 }, (_, i) => (i * 11 + 3) % 50);
    const out = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => m.forward(ids, tg, 2, 8).lmLoss);
      return { loss: value.dataSync()[0]!, g: Object.values(grads).map((g) => Array.from(g.dataSync().slice(0, 5))) };
    });
    m.dispose();
    return out;
  };
}

describe("Transformer", () => {
  it("names every parameter with a stable dotted name, in order", () => {
    const names = parameterSpecs(cfg).map((s) => s.name);
    expect(names.slice(0, 7)).toEqual(["embed.weight", "blocks.0.norm1.weight", "blocks.0.attn.wq", "blocks.0.attn.wk", "blocks.0.attn.wv", "blocks.0.attn.wo", "blocks.0.norm2.weight"]);
    expect(names.at(-1)).toBe("head.weight");
    expect(parameterSpecs({ ...cfg, tiedEmbeddings: true }).map((s) => s.name)).not.toContain("head.weight");
    expect(parameterSpecs({ ...cfg, qkNorm: true }).map((s) => s.name)).toContain("blocks.1.attn.kNorm.weight");
  });

  it("initialises deterministically: N(0, 0.02), output projections 0.02/sqrt(2L), norms at 1", async () => {
    await initBackend("wasm");
    const big = { ...cfg, vocabSize: 512, dModel: 64, nHeads: 4 };
    const a = Transformer.init(big, createRng(1, "init")).getWeights();
    const b = Transformer.init(big, createRng(1, "init")).getWeights();
    expect(a.get("blocks.0.attn.wq")).toEqual(b.get("blocks.0.attn.wq"));
    const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(a.get("embed.weight")!)).toBeCloseTo(0.02, 3);
    expect(std(a.get("blocks.1.mlp.w2")!)).toBeCloseTo(0.02 / Math.sqrt(4), 3);
    expect(Array.from(a.get("norm.weight")!).every((v) => v === 1)).toBe(true);
  });

  it("starts near the uniform loss ln V", async () => {
    const { loss } = await lossOn("wasm", cfg)();
    expect(Math.abs(loss - Math.log(50))).toBeLessThan(0.05);
  });

  it("wasm matches the cpu reference in loss and gradients (with QK-norm and z-loss too)", async () => {
    for (const c of [cfg, { ...cfg, qkNorm: true, zLoss: 1e-4, tiedEmbeddings: true }]) {
      const cpu = await lossOn("cpu", c)();
      const wasm = await lossOn("wasm", c)();
      expect(Math.abs(cpu.loss - wasm.loss)).toBeLessThan(1e-5);
      cpu.g.forEach((g, i) => g.forEach((v, j) => expect(Math.abs(v - wasm.g[i]![j]!)).toBeLessThan(1e-5)));
    }
  });

  it("rejects an architecture it cannot build, naming the fields", () => {
    expect(() => validateModelConfig({ ...cfg, nHeads: 3 })).toThrow(/model.dModel \(16\) must be divisible by model.nHeads \(3\)/);
    expect(() => validateModelConfig({ ...cfg, dModel: 6, nHeads: 2 })).toThrow(/must be even/);
  });
});

import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { initBackend } from "../../../core/backend.js";
import type { ModelConfig } from "../../../core/config/types.js";
import { parameterSpecs, Transformer, validateModelConfig } from "../../../core/model/Transformer.js";
import { createRng } from "../../../core/rng.js";

const cfg: ModelConfig = { arch: "gelu", vocabSize: 50, dModel: 16, nLayers: 2, nHeads: 2, nKvHeads: null, intermediate: null, contextLength: 8, ropeBase: 10000, qkNorm: false, zLoss: 0, tiedEmbeddings: false, normEps: 1e-5, initStd: 0.02 };
const llama: ModelConfig = { ...cfg, arch: "llama", dModel: 32, nHeads: 4, nKvHeads: 2, intermediate: 48 };

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

  it("lays out the llama architecture: SwiGLU matrices, narrower keys and values under grouped-query attention", () => {
    const specs = new Map(parameterSpecs(llama).map((s) => [s.name, s.shape]));
    expect([...specs.keys()].filter((n) => n.startsWith("blocks.0."))).toEqual(["blocks.0.norm1.weight", "blocks.0.attn.wq", "blocks.0.attn.wk", "blocks.0.attn.wv", "blocks.0.attn.wo", "blocks.0.norm2.weight", "blocks.0.mlp.gate", "blocks.0.mlp.up", "blocks.0.mlp.down"]);
    expect(specs.get("blocks.0.attn.wq")).toEqual([32, 32]);
    expect(specs.get("blocks.0.attn.wk")).toEqual([32, 16]); // 2 KV heads of 8
    expect(specs.get("blocks.0.mlp.up")).toEqual([32, 48]);
    expect(specs.get("blocks.0.mlp.down")).toEqual([48, 32]);
  });

  it("grouped-query attention equals multi-head attention with each key/value head repeated for its group", async () => {
    await initBackend("wasm");
    const gqa = Transformer.init(llama, createRng(5, "init"));
    const w = gqa.getWeights();
    // Query heads 0,1 read KV head 0 and heads 2,3 read KV head 1 (Hugging Face's repeat_kv).
    const repeat = (m: Float32Array) => {
      const out = new Float32Array(32 * 32);
      for (let r = 0; r < 32; r++) for (let h = 0; h < 4; h++) for (let d = 0; d < 8; d++) out[r * 32 + h * 8 + d] = m[r * 16 + Math.floor(h / 2) * 8 + d]!;
      return out;
    };
    const mhaWeights = new Map([...w].map(([n, x]) => [n, /attn\.w[kv]$/.test(n) ? repeat(x) : x]));
    const mha = Transformer.fromWeights({ ...llama, nKvHeads: 4 }, mhaWeights);
    const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 50);
    const logits = (m: Transformer) => tf.tidy(() => Array.from(m.logits(m.hidden(ids, 2, 8)).dataSync()));
    const a = logits(gqa);
    const b = logits(mha);
    expect(Math.max(...a.map((x, i) => Math.abs(x - b[i]!)))).toBeLessThan(1e-5);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(1e-3);
    gqa.dispose();
    mha.dispose();
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
    for (const c of [cfg, { ...cfg, qkNorm: true, zLoss: 1e-4, tiedEmbeddings: true }, llama, { ...llama, nKvHeads: 1, tiedEmbeddings: true }]) {
      const cpu = await lossOn("cpu", c)();
      const wasm = await lossOn("wasm", c)();
      expect(Math.abs(cpu.loss - wasm.loss)).toBeLessThan(1e-5);
      cpu.g.forEach((g, i) => g.forEach((v, j) => expect(Math.abs(v - wasm.g[i]![j]!)).toBeLessThan(1e-5)));
    }
  });

  it("rejects an architecture it cannot build, naming the fields", () => {
    expect(() => validateModelConfig({ ...cfg, nHeads: 3 })).toThrow(/model.dModel \(16\) must be divisible by model.nHeads \(3\)/);
    expect(() => validateModelConfig({ ...cfg, dModel: 6, nHeads: 2 })).toThrow(/must be even/);
    expect(() => validateModelConfig({ ...llama, nKvHeads: 3 })).toThrow(/model.nKvHeads \(3\) must divide model.nHeads \(4\)/);
    expect(() => validateModelConfig({ ...cfg, intermediate: 40 })).toThrow(/model.intermediate \(40\) applies to arch "llama"/);
  });
});

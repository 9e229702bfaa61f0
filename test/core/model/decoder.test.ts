/**
 * The key/value-cache decoder computes what the full forward pass computes: next-token log-probabilities
 * after a prompt fed at once and after tokens fed one at a time match hidden() over the whole prefix, for
 * plain RoPE, a YaRN-scaled RoPE, qk-norm and adapters.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../core/backend.js";
import type { ModelConfig } from "../../../core/config/types.js";
import { generate, sampleGroup } from "../../../core/model/generate.js";
import { Transformer } from "../../../core/model/Transformer.js";
import { createRng } from "../../../core/rng.js";

const base: ModelConfig = { vocabSize: 40, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 16, ropeBase: 10000, qkNorm: false, zLoss: 0, tiedEmbeddings: false, normEps: 1e-5, initStd: 0.3 };

beforeAll(async () => {
  await initBackend("wasm");
});

function fullLogProbs(model: Transformer, rows: number[][]): Float32Array {
  const len = rows[0]!.length;
  return tf.tidy(() => {
    const hidden = model.hidden(Int32Array.from(rows.flat()), rows.length, len);
    const last = tf.gather(hidden, rows.map((_, r) => r * len + len - 1)) as tf.Tensor2D;
    return tf.logSoftmax(model.logits(last)).dataSync() as Float32Array;
  });
}

describe.each([
  ["plain RoPE", base],
  ["YaRN x2, qk-norm", { ...base, qkNorm: true, rope: { type: "yarn" as const, base: 10000, factor: 2, originalContext: 8 } }],
  ["llama, grouped-query attention", { ...base, arch: "llama" as const, nHeads: 4, nKvHeads: 2, intermediate: 24 }],
  ["adapters", { ...base, adapters: { rank: 2, alpha: 4, targets: ["*.attn.*", "*.mlp.*", "head.weight"] } }],
])("decoder with %s", (_, cfg) => {
  it("matches the full forward pass within 1e-4 at every step", () => {
    const model = Transformer.init(cfg as ModelConfig, createRng(11, "init"));
    if (model.adapterNames.length) {
      const rng = createRng(2, "b");
      model.setWeights(new Map(model.adapterNames.filter((n) => n.endsWith("lora_b")).map((n) => [n, Float32Array.from({ length: model.param(n).size }, () => rng.normal() * 0.3)])));
    }
    const rows = [
      [1, 5, 9, 2, 7],
      [3, 3, 8, 1, 0],
    ];
    const dec = model.decoder(2, 12);
    let maxDiff = 0;
    let got = dec.feed(Int32Array.from(rows.flat()), 5);
    for (let step = 0; step < 6; step++) {
      const want = fullLogProbs(model, rows);
      for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(want[i]! - got[i]!));
      const next = [(step * 7) % 40, (step * 13 + 1) % 40];
      rows.forEach((r, i) => r.push(next[i]!));
      got = dec.feed(Int32Array.from(next), 1);
    }
    dec.dispose();
    expect(maxDiff).toBeLessThan(1e-4);
    model.dispose();
  });
});

describe("generation", () => {
  it("greedy decoding picks the full forward pass's argmax at every step, within and past the window", () => {
    const model = Transformer.init(base, createRng(5, "init"));
    const prompt = [4, 8, 15, 16];
    const window = 8; // 4 + 12 tokens: the cache restarts from the last 6 tokens when the window is full
    const out = generate(model, prompt, { maxTokens: 12, window });
    expect(out.length).toBe(12);
    const ids = [...prompt];
    let cached = 0;
    for (const token of out) {
      // The decoder's context: everything while within the window; then it restarts from the last 6.
      cached = cached === 0 ? ids.length : cached + 1 > window ? 6 : cached + 1;
      const context = ids.slice(-cached);
      const logp = fullLogProbs(model, [context]);
      const best = logp.indexOf(Math.max(...logp));
      expect(token).toBe(best);
      ids.push(token);
    }
    model.dispose();
  });

  it("samples k completions reproducibly from a seeded stream", () => {
    const model = Transformer.init(base, createRng(5, "init"));
    const a = sampleGroup(model, [1, 2, 3], 4, { maxTokens: 6, temperature: 1, rng: createRng(1, "s") });
    const b = sampleGroup(model, [1, 2, 3], 4, { maxTokens: 6, temperature: 1, rng: createRng(1, "s") });
    expect(a).toEqual(b);
    expect(new Set(a.map((x) => x.join())).size).toBeGreaterThan(1);
    model.dispose();
  });
});

/**
 * The induction probe's bookkeeping: a model that copies (low loss wherever the token that followed an
 * earlier occurrence of the current token is the target) shows a gain of about the loss it saves on the
 * repeated span; a random model shows none.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../core/backend.js";
import { Tokenizer } from "../../core/data/tokenizer/Tokenizer.js";
import { Transformer } from "../../core/model/Transformer.js";
import type { LanguageModel } from "../../core/engine/LanguageModel.js";
import { TfjsModel } from "../../core/engine/tfjs/TfjsModel.js";
import { createRng } from "../../core/rng.js";
import { induction } from "../../probes/induction.js";
import { TOKENIZER } from "../helpers/cli.js";

beforeAll(async () => {
  await initBackend("wasm");
});

const cfg = { dModel: 16, nLayers: 1, nHeads: 2, contextLength: 64, ropeBase: 10000, qkNorm: false, zLoss: 0, tiedEmbeddings: false, normEps: 1e-5, initStd: 0.02 };

/** Loss 0.1 where the target follows an earlier occurrence of the current token in the row, else 5. */
function copyingModel(seqLen: number, tokenizer: Tokenizer): LanguageModel {
  return {
    config: { ...cfg, vocabSize: tokenizer.vocabSize, contextLength: seqLen },
    tokenizer,
    where: "test",
    async tokenLoss({ inputs, targets, size: batch, seqLen: T }) {
      const loss = new Float32Array(batch * T);
      for (let r = 0; r < batch; r++) {
        for (let t = 0; t < T; t++) {
          let copied = false;
          for (let s = 0; s + 1 <= t && !copied; s++) copied = inputs[r * T + s] === inputs[r * T + t] && inputs[r * T + s + 1] === targets[r * T + t];
          loss[r * T + t] = copied ? 0.1 : 5;
        }
      }
      return loss;
    },
    nextTokenLogprobs: async () => [],
    generate: async () => [],
    klFrom: async () => undefined,
    dispose: async () => {},
  };
}

describe("induction probe", () => {
  it("measures the loss a copying model saves on the repeated span", async () => {
    const tokenizer = Tokenizer.load(TOKENIZER);
    const model = copyingModel(64, tokenizer);
    const r = await induction.run({ model, tokenizer, seed: 1, load: async () => model }, { seqLen: 64, sequences: 4 });
    // On the copy every token (after the first) follows its earlier occurrence: loss 0.1 throughout.
    expect(r.metrics.lossRepeat).toBeCloseTo(0.1, 5);
    // The first occurrence copies only where natural text repeats itself within 32 tokens: rarely.
    expect(r.metrics.lossFirst).toBeGreaterThan(4);
    expect(r.metrics.gain).toBeCloseTo(r.metrics.lossFirst! - 0.1, 5);
    // The unit of the standard error is the sequence: one value per span for each metric.
    expect(r.n).toBe(4);
    expect(r.counts?.gain).toBe(4);
    expect(r.stderr?.lossRepeat).toBeCloseTo(0, 6);
  });

  it("a random model gains nothing from the repeat", async () => {
    const tokenizer = Tokenizer.load(TOKENIZER);
    const model = new TfjsModel(Transformer.init({ ...cfg, vocabSize: tokenizer.vocabSize }, createRng(5, "init")), tokenizer, true);
    const r = await induction.run({ model, tokenizer, seed: 1, load: async () => model }, { seqLen: 64, sequences: 8 });
    expect(r.metrics.lossFirst).toBeGreaterThan(0.9 * Math.log(tokenizer.vocabSize));
    expect(Math.abs(r.metrics.gain!)).toBeLessThan(0.05);
    await model.dispose();
  });

  it("refuses a sequence too short to hold a span twice", async () => {
    const tokenizer = Tokenizer.load(TOKENIZER);
    const model = copyingModel(6, tokenizer);
    await expect(induction.run({ model, tokenizer, seed: 1, load: async () => model }, { seqLen: 6 })).rejects.toThrow(/too short/);
  });
});

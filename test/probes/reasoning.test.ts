/**
 * The math probe's teacher-forced likelihoods: continuationLogProb equals the sum of next-token
 * log-probabilities read off the logits one position at a time, also when the prompt is cut to fit the
 * window; the probe reports them next to exact match.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../core/backend.js";
import type { ModelConfig } from "../../core/config/types.js";
import { Tokenizer } from "../../core/data/tokenizer/Tokenizer.js";
import { continuationLogProb } from "../../core/engine/LanguageModel.js";
import { TfjsModel } from "../../core/engine/tfjs/TfjsModel.js";
import { Transformer } from "../../core/model/Transformer.js";
import { createRng } from "../../core/rng.js";
import { math } from "../../probes/reasoning.js";
import { TOKENIZER } from "../helpers/cli.js";

beforeAll(async () => {
  await initBackend("wasm");
});

const cfg: ModelConfig = { vocabSize: 40, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 8, ropeBase: 10000, qkNorm: false, zLoss: 0, tiedEmbeddings: false, normEps: 1e-5, initStd: 0.3 };

function byHand(model: Transformer, ids: number[], from: number): number {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(model.logits(model.hidden(Int32Array.from(ids), 1, ids.length))).arraySync() as number[][];
    let lp = 0;
    for (let t = from; t < ids.length; t++) lp += logp[t - 1]![ids[t]!]!;
    return lp;
  });
}

describe("teacher-forced likelihoods", () => {
  it("continuationLogProb sums the continuation's next-token log-probabilities, cutting the prompt to the window", async () => {
    const tokenizer = Tokenizer.load(TOKENIZER);
    const t = Transformer.init(cfg, createRng(3, "init"));
    const model = new TfjsModel(t, tokenizer, true);
    expect(await continuationLogProb(model, [1, 2, 3], [4, 5])).toBeCloseTo(byHand(t, [1, 2, 3, 4, 5], 3), 4);
    // 7 + 3 tokens make 9, one more than the window of 8 inputs allows: the prompt keeps its last 6.
    expect(await continuationLogProb(model, [9, 8, 7, 6, 5, 4, 3], [2, 1, 0])).toBeCloseTo(byHand(t, [8, 7, 6, 5, 4, 3, 2, 1, 0], 6), 4);
    await model.dispose();
  });

  it("the math probe reports solution and answer NLL next to exact match", async () => {
    const tokenizer = Tokenizer.load(TOKENIZER);
    const model = new TfjsModel(Transformer.init({ ...cfg, vocabSize: tokenizer.vocabSize, contextLength: 128 }, createRng(3, "init")), tokenizer, true);
    const r = await math.run({ model, tokenizer, seed: 1, load: async () => model }, { items: 3, maxTokens: 4 });
    expect(r.metrics.accuracy).toBe(0);
    // A random model spreads its probability: about ln(V) nats per token.
    expect(r.metrics.solutionNll).toBeGreaterThan(0.5 * Math.log(tokenizer.vocabSize));
    expect(r.metrics.solutionNll).toBeLessThan(2 * Math.log(tokenizer.vocabSize));
    expect(r.metrics.answerNll).toBeGreaterThan(0);
    await model.dispose();
  });
});

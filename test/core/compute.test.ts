// What a run computes besides its steps: a CountingModel counts each forward position asked of a model
// (scoring, prompts, generated tokens with a KV cache, both models of a KL) and its FLOPs; the trainer's
// summary carries its held-out evaluations' and its probes' forward FLOPs beside the training FLOPs.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CountingModel, type ForwardCompute } from "../../core/engine/CountingModel.js";
import type { LanguageModel } from "../../core/engine/LanguageModel.js";
import { forwardFlops, matmulParams } from "../../core/model/Transformer.js";
import type { ModelConfig } from "../../core/model/config.js";
import { DriftPlugin } from "../../plugins/guardrails/drift.js";
import { tinyRun } from "../helpers/trainer.js";

const config = { arch: "llama", vocabSize: 100, dModel: 16, nLayers: 2, nHeads: 2, contextLength: 32, intermediate: 48 } as unknown as ModelConfig;

function fake(): LanguageModel & { klReference?: LanguageModel } {
  const m = {
    config,
    tokenizer: undefined as never,
    where: "fake",
    tokenLoss: async (rows: { size: number; seqLen: number }) => new Float32Array(rows.size * rows.seqLen),
    nextTokenLogprobs: async (prompts: number[][]) => prompts.map(() => new Float32Array(100)),
    topLogprobs: async () => ({ ids: new Int32Array(0), logprobs: new Float32Array(0) }),
    generate: async (prompts: number[][]) => prompts.map((_, i) => Array.from({ length: i + 2 }, () => 5)),
    klFrom: async (reference: LanguageModel) => {
      m.klReference = reference;
      return 0.5;
    },
    dispose: async () => {},
  } as LanguageModel & { klReference?: LanguageModel };
  return m;
}

describe("counting forward compute", () => {
  it("counts scored positions, prompts plus generated tokens, and both models of a KL, at 2N plus attention each", async () => {
    expect(forwardFlops(config, 1, 8)).toBe(2 * matmulParams(config) + 4 * 2 * 8 * 16);
    const spent: ForwardCompute = { tokens: 0, flops: 0 };
    const inner = fake();
    const m = new CountingModel(inner, spent);
    await m.tokenLoss({ inputs: new Int32Array(16), targets: new Int32Array(16), size: 2, seqLen: 8 });
    expect(spent).toEqual({ tokens: 16, flops: forwardFlops(config, 16, 8) });
    // Prompts of 3 and 1 tokens; the fake generates 2 and 3 tokens: 5 and 4 positions.
    await m.generate([[1, 2, 3], [4]], { maxTokens: 4 } as never);
    expect(spent.tokens).toBe(16 + 9);
    expect(spent.flops).toBe(forwardFlops(config, 16, 8) + forwardFlops(config, 5, 5) + forwardFlops(config, 4, 4));
    const reference = fake();
    const before = spent.tokens;
    expect(await m.klFrom(new CountingModel(reference, spent), { inputs: new Int32Array(8), targets: new Int32Array(8), size: 1, seqLen: 8 })).toBe(0.5);
    expect(inner.klReference).toBe(reference); // the engine sees its own model, not the wrapper
    expect(spent.tokens - before).toBe(16);
  });

  it("a run's summary carries its evaluations' and probes' forward FLOPs", async () => {
    // eval.every 0: one evaluation, at the end; no probes.
    const plain = await tinyRun({ steps: 4 });
    const oneEval = plain.summary.spent!.evalFlops!;
    expect(plain.summary.spent!.probeFlops).toBe(0);
    const model = (JSON.parse(readFileSync(join(plain.config.out, "checkpoints", "step-4", "state.json"), "utf8")) as { model: ModelConfig }).model;
    expect(oneEval).toBeGreaterThanOrEqual(forwardFlops(model, 4 * 32, 32));
    expect(plain.summary.spent!.flops).toBeGreaterThan(oneEval);

    // Every evaluation scores the same held-out batches: n evaluations cost n times one.
    const evals = await tinyRun({ steps: 4, eval: { every: 2, batches: 1 } });
    const n = evals.metrics.filter((m) => m.heldoutBpb !== undefined).length;
    expect(n).toBe(2);
    expect(evals.summary.spent!.evalFlops).toBe(n * oneEval);

    const from = join(plain.config.out, "checkpoints", "step-4");
    const drift = await tinyRun({ steps: 20, from, checkpoint: { every: 0 } }, [new DriftPlugin({ every: 10, lag: 2, base: "start", warn: 0.02, act: 0.5, action: "halt", maxKl: null, batches: 1, klBatches: 1 })]);
    // The base scored at the start, then step 10 (step 20 would land after the last step): two measurements of at least a 4 x 32 batch.
    expect(drift.metrics.filter((m) => "driftDelta" in m).map((m) => m.step)).toEqual([10]);
    expect(drift.summary.spent!.probeFlops!).toBeGreaterThanOrEqual(2 * forwardFlops(model, 4 * 32, 32));
    expect(drift.summary.spent!.evalFlops).toBe(oneEval);
  });
});

/**
 * Selective training: frozen parameters are bitwise unchanged and keep no optimizer state, progressive
 * unfreezing releases layers from the top at the configured steps, and low-rank adapters train while the
 * base stays bitwise fixed, are saved on their own and fold back into the weights exactly.
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../../core/backend.js";
import { loadCheckpoint } from "../../../core/checkpoint/Checkpoint.js";
import { mergeCheckpoint } from "../../../core/checkpoint/merge.js";
import type { ModelConfig } from "../../../core/config/types.js";
import { freezePlan } from "../../../core/model/freeze.js";
import { foldAdapters, isAdapterParam, parameterSpecs, Transformer } from "../../../core/model/Transformer.js";
import { createRng } from "../../../core/rng.js";
import { tempDir } from "../../helpers/cli.js";
import { tinyRun } from "../../helpers/trainer.js";

const cfg: ModelConfig = { vocabSize: 50, dModel: 16, nLayers: 3, nHeads: 2, contextLength: 8, ropeBase: 10000, qkNorm: false, zLoss: 0, tiedEmbeddings: false, normEps: 1e-5, initStd: 0.02 };

beforeAll(async () => {
  await initBackend("wasm");
});

describe("freezePlan", () => {
  const specs = parameterSpecs(cfg);
  const none = { patterns: [], firstBlocks: 0, unfreezeAt: [] };

  it("freezes by pattern and by first blocks", () => {
    const plan = freezePlan(specs, 3, { ...none, patterns: ["embed.*", "*norm*"], firstBlocks: 1 }, false, 0);
    expect(plan.frozen.has("embed.weight")).toBe(true);
    expect(plan.frozen.has("blocks.2.norm1.weight")).toBe(true);
    expect(plan.frozen.has("blocks.0.attn.wq")).toBe(true);
    expect(plan.frozen.has("blocks.1.attn.wq")).toBe(false);
    expect(plan.frozen.has("head.weight")).toBe(false);
  });

  it("unfreezes from the top, one layer per configured step", () => {
    const c = { patterns: ["*"], firstBlocks: 0, unfreezeAt: [10, 20, 30] };
    expect(freezePlan(specs, 3, c, false, 0).frozen.size).toBe(specs.length);
    // Step 10 is computed after 9 completed steps: the head and final norm train from step 10.
    expect(freezePlan(specs, 3, c, false, 8).released).toEqual([]);
    expect(freezePlan(specs, 3, c, false, 9).released).toEqual(["head"]);
    const at30 = freezePlan(specs, 3, c, false, 29);
    expect(at30.released).toEqual(["head", "blocks.2", "blocks.1"]);
    expect(at30.frozen.has("blocks.1.attn.wq")).toBe(false);
    expect(at30.frozen.has("blocks.0.attn.wq")).toBe(true);
    expect(at30.frozen.has("embed.weight")).toBe(true);
  });

  it("freezes every base weight under adapters, never the adapters", () => {
    const withA: ModelConfig = { ...cfg, adapters: { rank: 2, alpha: 4, targets: ["*.attn.wq"] } };
    const plan = freezePlan(parameterSpecs(withA), 3, none, true, 0);
    expect(plan.frozen.size).toBe(parameterSpecs(cfg).length);
    expect([...plan.frozen].some(isAdapterParam)).toBe(false);
  });
});

describe("adapters", () => {
  it("merged weights give the adapter model's outputs within 1e-5", () => {
    const withA: ModelConfig = { ...cfg, adapters: { rank: 4, alpha: 8, targets: ["*.attn.*", "*.mlp.*", "head.weight"] } };
    const model = Transformer.init(withA, createRng(3, "init"));
    // B starts at zero; give it values so the adapters change the outputs.
    const rng = createRng(4, "b");
    const update = new Map<string, Float32Array>();
    for (const name of model.adapterNames.filter((n) => n.endsWith(".lora_b"))) {
      const n = model.param(name).size;
      update.set(name, Float32Array.from({ length: n }, () => rng.normal() * 0.2));
    }
    model.setWeights(update);
    const folded = foldAdapters(withA, model.getWeights());
    const plain = Transformer.fromWeights(folded.config, folded.weights);
    const base = Transformer.fromWeights(folded.config, new Map([...model.getWeights()].filter(([n]) => !isAdapterParam(n))));
    const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 50);
    const logits = (m: Transformer) => tf.tidy(() => m.logits(m.hidden(ids, 2, 8)).dataSync() as Float32Array);
    const a = logits(model);
    const p = logits(plain);
    const b = logits(base);
    let maxDiff = 0;
    let adapterEffect = 0;
    for (let i = 0; i < a.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[i]! - p[i]!));
      adapterEffect = Math.max(adapterEffect, Math.abs(a[i]! - b[i]!));
    }
    expect(maxDiff).toBeLessThan(1e-5);
    expect(adapterEffect).toBeGreaterThan(1e-2); // the adapters do change the outputs
    for (const m of [model, plain, base]) m.dispose();
  });

  it("rejects targets that match no matrix, naming the field", () => {
    expect(() => parameterSpecs({ ...cfg, adapters: { rank: 2, alpha: 4, targets: ["*.attention.q"] } }) && Transformer.init({ ...cfg, adapters: { rank: 2, alpha: 4, targets: ["*.attention.q"] } }, createRng(1, "x"))).toThrow(/adapters.targets/);
  });
});

describe("selective training runs", () => {
  it("frozen parameters are bitwise unchanged and keep no optimizer state; the count is logged", async () => {
    const first = await tinyRun({ steps: 3, checkpoint: { every: 0, keepLast: 2 } });
    const start = loadCheckpoint(first.summary.lastCheckpoint!);
    const run = await tinyRun({ from: first.summary.lastCheckpoint, steps: 6, freeze: { patterns: ["embed.*", "*norm*"], firstBlocks: 1 } });
    expect(run.summary.status).toBe("completed");
    const end = loadCheckpoint(run.summary.lastCheckpoint!);
    const frozen = [...end.weights.keys()].filter((n) => n === "embed.weight" || n.includes("norm") || n.startsWith("blocks.0."));
    expect(frozen.length).toBeGreaterThan(5);
    for (const name of frozen) expect(Buffer.from(end.weights.get(name)!.buffer).equals(Buffer.from(start.weights.get(name)!.buffer)), name).toBe(true);
    const trained = [...end.weights.keys()].filter((n) => !frozen.includes(n));
    for (const name of trained) expect(Buffer.from(end.weights.get(name)!.buffer).equals(Buffer.from(start.weights.get(name)!.buffer)), name).toBe(false);
    expect([...end.optimizer!.m.keys()].sort()).toEqual([...trained].sort());
    const total = [...end.weights.values()].reduce((a, w) => a + w.length, 0);
    const trainable = trained.reduce((a, n) => a + end.weights.get(n)!.length, 0);
    expect(run.metrics[0]!.trainableParams).toBe(trainable);
    expect(trainable).toBeLessThan(total);
    expect(run.summary.trainableParams).toBe(trainable);
  });

  it("progressive unfreezing releases the head at its step and logs the decision", async () => {
    const run = await tinyRun({ steps: 6, freeze: { patterns: ["*"], unfreezeAt: [3, 5] } });
    const counts = run.metrics.map((m) => m.trainableParams);
    expect(counts[0]).toBe(0);
    expect(counts[1]).toBe(0);
    expect(counts[2]).toBeGreaterThan(0); // step 3: head and final norm
    expect(counts[4]).toBeGreaterThan(counts[2]!); // step 5: the last block too
    expect(run.decisions.filter((d) => d.action === "unfreeze").map((d) => [d.step, d.layer])).toEqual([
      [3, "head"],
      [5, "blocks.1"],
    ]);
  });

  it("adapters train on a frozen base, are saved on their own, resume, and merge", async () => {
    const first = await tinyRun({ steps: 3, checkpoint: { every: 0, keepLast: 2 } });
    const base = loadCheckpoint(first.summary.lastCheckpoint!);
    const lora = { rank: 4, alpha: 8, targets: ["*.attn.wq", "*.attn.wv"] };
    const run = await tinyRun({ from: first.summary.lastCheckpoint, steps: 5, adapters: lora });
    const dir = run.summary.lastCheckpoint!;
    expect(existsSync(join(dir, "adapters.safetensors"))).toBe(true);
    const end = loadCheckpoint(dir);
    expect(end.state.model.adapters).toEqual(lora);
    for (const [name, w] of base.weights) expect(Buffer.from(end.weights.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    const adapterB = [...end.weights.keys()].filter((n) => n.endsWith(".lora_b"));
    expect(adapterB.length).toBe(4); // 2 blocks x wq, wv
    for (const n of adapterB) expect(Math.max(...end.weights.get(n)!.map(Math.abs))).toBeGreaterThan(0);
    expect([...end.optimizer!.m.keys()].every(isAdapterParam)).toBe(true);
    expect(run.metrics[0]!.trainableParams).toBe(2 * 2 * (32 * 4 + 4 * 32));

    const merged = tempDir("mtx-merged-");
    const r = mergeCheckpoint(dir, join(merged, "ckpt"), first.summary.lastCheckpoint!);
    expect(r.matrices).toBe(4);
    const plain = loadCheckpoint(join(merged, "ckpt"));
    expect(plain.state.model.adapters).toBeNull();
    expect([...plain.weights.keys()].some(isAdapterParam)).toBe(false);
    expect(plain.optimizer?.m.size).toBe(base.weights.size);
  });
});

describe("context extension stage", () => {
  it("trains a checkpoint at a longer context with the RoPE scaling recorded in the checkpoint", async () => {
    const first = await tinyRun({ steps: 2, checkpoint: { every: 0, keepLast: 2 } });
    const run = await tinyRun({ from: first.summary.lastCheckpoint, steps: 2, context: { length: 64, rope: { type: "yarn" } } });
    expect(run.summary.status).toBe("completed");
    const end = loadCheckpoint(run.summary.lastCheckpoint!);
    expect(end.state.model.contextLength).toBe(64);
    expect(end.state.model.rope).toEqual({ type: "yarn", base: 10000, factor: 2, originalContext: 32 });
    // Plain base scaling (ABF): a new base, no interpolation.
    const abf = await tinyRun({ from: first.summary.lastCheckpoint, steps: 1, context: { length: 64, rope: { base: 100000 } } });
    expect(loadCheckpoint(abf.summary.lastCheckpoint!).state.model.rope).toEqual({ type: "none", base: 100000, factor: 1, originalContext: 32 });
  });
});

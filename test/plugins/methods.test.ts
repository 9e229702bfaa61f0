/**
 * Mid-training method plugins: irl (rewards, advantages, the REINFORCE direction, a run), agentic
 * (share, schedule, outcome loss, resume) and contrastive (InfoNCE on span pairs).
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../../core/backend.js";
import type { Batch } from "../../core/data/batch.js";
import type { ModelConfig } from "../../core/config/types.js";
import { Transformer } from "../../core/model/Transformer.js";
import { createRng } from "../../core/rng.js";
import { AgenticPlugin, scheduledShare, type AgenticOptions } from "../../plugins/methods/agentic.js";
import { infoNce, reinforce } from "../../core/engine/tfjs/lossTerms.js";
import { ContrastivePlugin, spanPairs } from "../../plugins/methods/contrastive.js";
import { extractAnswer, groupAdvantages, groupRewards, IrlPlugin, rlItems, type IrlOptions, type Rollouts } from "../../plugins/methods/irl.js";
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/cli.js";
import { tinyRun } from "../helpers/trainer.js";

beforeAll(async () => {
  await initBackend("wasm");
});

const irlDefaults: IrlOptions = { every: 2, task: "math", maxDifficulty: 1, prompts: 2, k: 3, temperature: 1, maxTokens: 8, reward: "exact", weight: 0.1, klWeight: 0, reference: "start" };
const agenticDefaults: AgenticOptions = { share: 0.5, start: 1, rampSteps: 0, trajectories: 200, failureShare: 0.2, conditioning: true, outcomeWeight: 0.3 };

describe("irl rewards and advantages", () => {
  const item = { prompt: "Problem: ...\nSolution:\n", reference: "Step 1: 2 + 3 = 5.\nAnswer: 5", answer: "5" };

  it("scores exact answers, RPT-style prefixes and agreement with the majority", () => {
    const texts = ["Step 1: 2 + 3 = 5.\nAnswer: 5\n", "Step 1: 2 + 3 = 6.\nAnswer: 6\n", "Step 1: 2 + 3 = 6.\nAnswer: 6\n", "nonsense"];
    expect(groupRewards("exact", "math", item, texts).rewards).toEqual([1, 0, 0, 0]);
    const prefix = groupRewards("prefix", "math", item, texts).rewards;
    expect(prefix[0]).toBeCloseTo(2, 6); // the whole reference, plus the exact reward
    expect(prefix[1]).toBeCloseTo("Step 1: 2 + 3 = ".length / item.reference.length, 6);
    expect(prefix[3]).toBe(0);
    expect(groupRewards("self-consistency", "math", item, texts).rewards).toEqual([0, 1, 1, 0]);
    expect(extractAnswer("code", "x = 1\nOutput: -4\n")).toBe("-4");
  });

  it("normalises advantages within the group and gives none when the group agrees", () => {
    const a = groupAdvantages([1, 0, 0, 0]);
    expect(a.reduce((x, y) => x + y, 0)).toBeCloseTo(0, 6);
    expect(a[0]).toBeCloseTo(Math.sqrt(3), 3);
    expect(groupAdvantages([1, 1, 1])).toEqual([0, 0, 0]);
  });

  it("never uses the probes' held-out items", () => {
    const items = rlItems("math", 6);
    expect(items.length).toBeGreaterThan(2000);
    expect(new Set(items.map((i) => i.prompt)).size).toBe(items.length);
  });

  it("a gradient step on the REINFORCE loss raises the log-probability of a positive-advantage sample and lowers a negative one", () => {
    const cfg: ModelConfig = { vocabSize: 30, dModel: 16, nLayers: 1, nHeads: 2, contextLength: 8, ropeBase: 10000, qkNorm: false, zLoss: 0, tiedEmbeddings: false, normEps: 1e-5, initStd: 0.1 };
    const model = Transformer.init(cfg, createRng(1, "init"));
    const len = 6;
    const rows = [
      [1, 2, 3, 4, 5, 6, 7],
      [1, 2, 9, 9, 8, 8, 7],
    ];
    const r: Rollouts = {
      inputs: Int32Array.from(rows.flatMap((x) => x.slice(0, -1))),
      targets: Int32Array.from(rows.flatMap((x) => x.slice(1))),
      size: 2,
      seqLen: len,
      mask: Float32Array.from({ length: 2 * len }, (_, i) => (i % len >= 1 ? 1 : 0)),
      advantages: Float32Array.from([1, -1]),
      tokens: 10,
    };
    const logp = () => tf.tidy(() => {
      const tl = model.forward(r.inputs, r.targets, 2, len).tokenLoss.dataSync();
      return [0, 1].map((row) => -Array.from(tl.slice(row * len + 1, row * len + len)).reduce((a, b) => a + b, 0));
    });
    const before = logp();
    tf.tidy(() => {
      const vars = [...model.params.values()];
      const { grads } = tf.variableGrads(() => reinforce(model, r, 0).loss, vars);
      for (const v of vars) if (grads[v.name]) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 0.05)));
    });
    const after = logp();
    expect(after[0]!).toBeGreaterThan(before[0]! + 1e-3);
    expect(after[1]!).toBeLessThan(before[1]! - 1e-3);
    model.dispose();
  });

  it("runs every N steps in training, logs reward, pass@1 and FLOPs, and is deterministic", async () => {
    const run = () => tinyRun({ steps: 4 }, [new IrlPlugin(irlDefaults)]);
    const a = await run();
    const b = await run();
    expect(a.summary.status).toBe("completed");
    expect(a.metrics.map((m) => m.terms.irl !== undefined)).toEqual([false, true, false, true]);
    const m2 = a.metrics[1] as unknown as Record<string, number>;
    expect(m2["irl.reward"]).toBeGreaterThanOrEqual(0);
    expect(m2["irl.pass1"]).toBeGreaterThanOrEqual(0);
    expect(m2["irl.flops"]).toBeGreaterThan(0);
    expect(b.metrics.map((m) => m.totalLoss)).toEqual(a.metrics.map((m) => m.totalLoss));
  });
});

describe("agentic injection", () => {
  it("follows the schedule: nothing before start, a linear ramp, then the share", () => {
    const o = { share: 0.4, start: 10, rampSteps: 4 };
    expect(scheduledShare(o, 9)).toBe(0);
    expect(scheduledShare(o, 10)).toBeCloseTo(0.1, 9);
    expect(scheduledShare(o, 13)).toBeCloseTo(0.4, 9);
    expect(scheduledShare(o, 100)).toBeCloseTo(0.4, 9);
  });

  it("replaces the share of each batch with conditioned trajectories, logs the outcome loss, and resumes exactly", async () => {
    const groups: string[][] = [];
    const observer = { name: "observer", apply: (t: { hooks: { stepStart: { tap: (n: string, f: (c: { batch: Batch }) => void) => void } } }) => t.hooks.stepStart.tap("observer", (c) => void groups.push(c.batch.samples.map((s) => s.group ?? ""))) };
    const run = await tinyRun({ steps: 4 }, [new AgenticPlugin({ ...agenticDefaults, failureShare: 0 }), observer as never]);
    // The tiny recipe is half replay: the injected rows replace the synthetic ones, replay keeps its 2 rows.
    for (const g of groups) expect(g.filter((x) => x === "replay").length).toBe(2);
    for (const g of groups) expect(g.filter((x) => x === "agentic").length).toBe(2);
    expect(run.metrics).toHaveLength(4);
    expect(groups).toHaveLength(4);
    for (const m of run.metrics) {
      expect(m.sourceLoss["agent-trajectories"]).toBeDefined();
      expect(m.terms.outcome).toBeGreaterThan(0);
      expect((m as unknown as Record<string, number>)["agentic.sequences"]).toBe(2); // 0.5 x batch 4
    }
    // Straight 6 steps vs resuming a copy of the run from its step-3 checkpoint: the same losses.
    const straight = await tinyRun({ steps: 6, checkpoint: { every: 3, keepLast: 5 } }, [new AgenticPlugin(agenticDefaults)]);
    const copy = tempDir("mtx-agentic-resume-");
    cpSync(straight.config.out, copy, { recursive: true });
    rmSync(join(copy, "checkpoints", "step-6"), { recursive: true });
    const resumed = await tinyRun({ steps: 6, out: copy, checkpoint: { every: 3, keepLast: 5 } }, [new AgenticPlugin(agenticDefaults)], { resume: true });
    expect(resumed.metrics.map((m) => m.totalLoss)).toEqual(straight.metrics.map((m) => m.totalLoss));
    expect(resumed.metrics.length).toBe(6);
  });
});

describe("contrastive loss", () => {
  const batch = (boundaries: number[][]): Batch => ({ size: boundaries.length, seqLen: 8, inputs: new Int32Array(0), targets: new Int32Array(0), samples: boundaries.map((b, i) => ({ id: `s${i}`, source: "x", documents: ["d"], boundaries: b })) });

  it("pairs the two halves of each sequence's longest document segment", () => {
    const p = spanPairs(batch([[], [6], [2, 4, 6]]), 2);
    // The third sequence's segments are all 2 tokens: too short for two halves of minSpan 2.
    expect(p.first).toEqual([{ row: 0, from: 0, to: 4 }, { row: 1, from: 0, to: 3 }]);
    expect(p.second).toEqual([{ row: 0, from: 4, to: 8 }, { row: 1, from: 3, to: 6 }]);
  });

  it("is near zero when each span's partner is its own document and near log(B) when representations carry nothing", () => {
    const B = 4;
    const D = 8;
    const b = batch(Array.from({ length: B }, () => []));
    const aligned = tf.tensor2d(Array.from({ length: B * 8 }, (_, i) => Array.from({ length: D }, (_, d) => (d === Math.floor(i / 8) ? 1 : 0))));
    const constant = tf.ones([B * 8, D]) as tf.Tensor2D;
    const { first, second } = spanPairs(b, 2);
    expect(infoNce(aligned as tf.Tensor2D, b, first, second, 0.1).dataSync()[0]).toBeLessThan(1e-3);
    expect(infoNce(constant, b, first, second, 0.1).dataSync()[0]).toBeCloseTo(Math.log(B), 4);
  });

  it("adds a logged term in training", async () => {
    const run = await tinyRun({ steps: 2 }, [new ContrastivePlugin({ weight: 0.05, temperature: 0.1, minSpan: 4 })]);
    expect(run.metrics).toHaveLength(2);
    for (const m of run.metrics) expect(m.terms.contrastive).toBeGreaterThan(0);
    expect(run.metrics[0]!.totalLoss).toBeCloseTo(run.metrics[0]!.loss + run.metrics[0]!.terms.contrastive!, 4);
  });
});

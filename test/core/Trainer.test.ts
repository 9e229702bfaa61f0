import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { listCheckpoints, loadCheckpoint } from "../../core/checkpoint/Checkpoint.js";
import { PluginError } from "../../core/errors.js";
import type { MtxPlugin } from "../../core/plugin.js";
import { Trainer } from "../../core/Trainer.js";
import type { TrainerApi } from "../../core/plugin.js";
import type { Verdict } from "../../core/plugin.js";
import { readJsonl, tinyEffective, tinyRun } from "../helpers/trainer.js";

/** A plugin made of inline taps, for tests. */
function plugin(name: string, apply: (t: TrainerApi) => void): MtxPlugin {
  return { name, apply };
}

const verdictAt = (name: string, hook: "shouldSkipStep" | "shouldHalt", step: number, v: Omit<Verdict, "plugin">, once = true) => {
  let fired = false;
  return plugin(name, (t) =>
    t.hooks[hook].tap(name, (ctx) => {
      if (ctx.step !== step || (once && fired)) return undefined;
      fired = true;
      return { ...v, plugin: name };
    }),
  );
};

describe("Trainer", () => {
  it("trains: the loss falls on a tiny model", async () => {
    const { metrics, summary } = await tinyRun({ steps: 40 });
    expect(summary.status).toBe("completed");
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(metrics.slice(0, 5).map((m) => m.loss));
    const last = mean(metrics.slice(-5).map((m) => m.loss));
    expect(last).toBeLessThan(first - 0.5);
    for (const k of ["loss", "gradNorm", "updateNorm", "lr", "tokens", "tokensPerSec", "stepTimeMs"] as const) expect(Number.isFinite(metrics[0]![k])).toBe(true);
    expect(metrics[39]!.tokens).toBe(40 * 4 * 32);
    expect(Object.keys(metrics[0]!.sourceLoss).sort()).toEqual(["brown", "synthetic-math"]);
    expect(summary.heldout!.bpb).toBeGreaterThan(0);
    const audit = JSON.parse(readFileSync(join(summary.runDir, "mixture.json"), "utf8"));
    expect(audit.sequences).toBe(160);
    for (const g of Object.values(audit.groups) as { scheduled: number; realised: number }[]) expect(Math.abs(g.realised - g.scheduled)).toBeLessThan(0.01);
    expect(metrics[39]!.heldoutBpb).toBe(summary.heldout!.bpb);
  });

  it("skips held-out evaluation when no source of the recipe holds documents out", async () => {
    const recipe = join(dirname(fileURLToPath(import.meta.url)), "../fixtures/tiny-echo-recipe.json");
    const { metrics, summary } = await tinyRun({ steps: 4, eval: { every: 2, batches: 1 }, data: { batchSize: 4, recipe } });
    expect(summary.status).toBe("completed");
    expect(summary.heldout).toBeNull();
    expect(metrics).toHaveLength(4);
    for (const m of metrics) expect(m.heldoutLoss).toBeUndefined();
  });

  it("a new run in a directory holding an earlier run moves that run aside instead of mixing with it", async () => {
    const first = await tinyRun({ steps: 6 });
    const { summary, metrics } = await tinyRun({ steps: 3, out: first.config.out });
    expect(summary.status).toBe("completed");
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3]);
    expect(listCheckpoints(join(first.config.out, "checkpoints"))).toEqual([3]);
    const moved = `${first.config.out}.prev-1`;
    expect(readJsonl<{ step: number }>(join(moved, "metrics.jsonl")).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(listCheckpoints(join(moved, "checkpoints"))).toEqual([5, 6]);
    expect(() => new Trainer(tinyEffective({ out: first.config.out, from: join(first.config.out, "checkpoints", "step-3") }))).toThrow(/inside --out/);
  });

  it("is deterministic: same seed and config give bitwise the same losses", async () => {
    const a = await tinyRun({ steps: 8 });
    const b = await tinyRun({ steps: 8 });
    const c = await tinyRun({ steps: 8, seed: 8 });
    expect(b.metrics.map((m) => m.loss)).toEqual(a.metrics.map((m) => m.loss));
    expect(c.metrics.map((m) => m.loss)).not.toEqual(a.metrics.map((m) => m.loss));
  });

  it("carries out a skip verdict: no update, recorded with its evidence", async () => {
    const skip = verdictAt("skipper", "shouldSkipStep", 3, { action: "skip", reason: "test skip", evidence: { why: 42 } });
    const { metrics, decisions, summary } = await tinyRun({ steps: 5 }, [skip]);
    expect(metrics[2]).toMatchObject({ step: 3, skipped: true, updateNorm: 0 });
    expect(metrics[3]!.updateNorm).toBeGreaterThan(0);
    expect(decisions).toEqual([expect.objectContaining({ step: 3, action: "skip", plugin: "skipper", reason: "test skip", evidence: { why: 42 }, outcome: "update skipped" })]);
    expect(summary.verdicts).toHaveLength(1);
  });

  it("carries out reduce-lr for the given steps", async () => {
    const red = verdictAt("reducer", "shouldSkipStep", 4, { action: "reduce-lr", reason: "lower", lrFactor: 0.25, lrSteps: 3 });
    const { metrics } = await tinyRun({ steps: 9, schedule: { type: "constant", peakLr: 0.002, warmupSteps: 0 } }, [red]);
    expect(metrics.map((m) => m.lr)).toEqual([0.002, 0.002, 0.002, 0.0005, 0.0005, 0.0005, 0.002, 0.002, 0.002]);
    expect(metrics[3]!.skipped).toBe(false);
  });

  it("halts on a halt verdict: exit code 3, a checkpoint tagged halted, the reason in the summary", async () => {
    const halt = verdictAt("guard", "shouldHalt", 6, { action: "halt", reason: "held-out regression", evidence: { bpb: 9 } });
    const { summary, metrics, config } = await tinyRun({ steps: 20 }, [halt]);
    expect(summary).toMatchObject({ status: "halted", exitCode: 3, endStep: 6, halt: { plugin: "guard", reason: "held-out regression", evidence: { bpb: 9 } } });
    expect(metrics.at(-1)!.step).toBe(6);
    const ckpt = loadCheckpoint(join(config.out, "checkpoints", "step-6"));
    expect(ckpt.state).toMatchObject({ tag: "halted", reason: "held-out regression" });
    expect(JSON.parse(readFileSync(join(config.out, "summary.json"), "utf8")).halt.plugin).toBe("guard");
  });

  it("rolls back to the last good checkpoint and continues one unbroken curve", async () => {
    const rb = verdictAt("roller", "shouldHalt", 8, { action: "rollback", reason: "regressed" });
    const { summary, metrics, decisions } = await tinyRun({ steps: 12, checkpoint: { every: 5 } }, [rb]);
    expect(summary.status).toBe("completed");
    expect(decisions[0]).toMatchObject({ action: "rollback", step: 8, outcome: expect.stringMatching(/rolled back to step 5/) });
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    // Without skipping data the replay after the rollback repeats steps 6..8 exactly.
    const plain = await tinyRun({ steps: 12, checkpoint: { every: 5 } });
    expect(metrics.map((m) => m.loss)).toEqual(plain.metrics.map((m) => m.loss));
  });

  it("halts on a non-finite loss without applying the update", async () => {
    const nan = plugin("nan", (t) =>
      t.hooks.transformLoss.tap("nan", (ctx) => {
        if (ctx.step === 3) ctx.terms.push({ kind: "nan", name: "poison" });
        return ctx;
      }),
    );
    const { summary, config } = await tinyRun({ steps: 10 }, [nan]);
    expect(summary).toMatchObject({ status: "halted", exitCode: 3, endStep: 3, halt: { plugin: "trainer", reason: expect.stringMatching(/non-finite total loss/) } });
    const w = loadCheckpoint(join(config.out, "checkpoints", "step-3")).weights;
    for (const arr of w.values()) expect(arr.every(Number.isFinite)).toBe(true);
  });

  it("adds loss terms inside the gradient and logs each by name", async () => {
    // Half the mean loss of the first half of the batch's tokens, declared as a masked-nll term.
    const aux = plugin("aux", (t) =>
      t.hooks.transformLoss.tap("aux", (ctx) => {
        const mask = new Float32Array(ctx.batch.size * ctx.batch.seqLen);
        mask.fill(1, 0, mask.length / 2);
        ctx.terms.push({ kind: "masked-nll", name: "aux", weight: 0.5, mask });
        return ctx;
      }),
    );
    let halfLoss = NaN;
    const seqs = plugin("seqs", (t) => t.hooks.afterBackward.tap("seqs", (ctx) => {
      if (ctx.step === 1) halfLoss = Array.from(ctx.sequenceLoss.slice(0, ctx.batch.size / 2)).reduce((a, b) => a + b, 0) / (ctx.batch.size / 2);
    }));
    const { metrics } = await tinyRun({ steps: 3 }, [aux, seqs]);
    const plain = await tinyRun({ steps: 3 });
    expect(metrics[0]!.terms.aux).toBeCloseTo(0.5 * halfLoss, 5);
    expect(metrics[0]!.totalLoss).toBeCloseTo(metrics[0]!.loss + metrics[0]!.terms.aux!, 5);
    expect(metrics[0]!.loss).toBe(plain.metrics[0]!.loss); // same forward before the first update
    expect(metrics[1]!.loss).not.toBe(plain.metrics[1]!.loss); // the term changed the gradient
  });

  it("applies plugin onError policies: warn goes on, disable stops calling, halt halts the run (exit 3, checkpoint tagged halted)", async () => {
    let calls = 0;
    const thrower = (name: string) =>
      plugin(name, (t) =>
        t.hooks.stepEnd.tap(name, () => {
          calls++;
          throw new Error("boom");
        }),
      );
    const warned = await tinyRun({ steps: 4 }, [thrower("w")], { policies: { w: "warn" } });
    expect(warned.summary.status).toBe("completed");
    expect(calls).toBe(4);
    expect(warned.decisions.filter((d) => d.action === "plugin-error")).toHaveLength(4);
    calls = 0;
    const disabled = await tinyRun({ steps: 4 }, [thrower("d")], { policies: { d: "disable" } });
    expect(disabled.summary.status).toBe("completed");
    expect(calls).toBe(1);
    calls = 0;
    const halted = await tinyRun({ steps: 4 }, [thrower("h")]);
    expect(calls).toBe(1);
    expect(halted.summary).toMatchObject({ status: "halted", exitCode: 3, endStep: 1, halt: { plugin: "h", reason: expect.stringMatching(/plugin 'h' threw in hook 'stepEnd': boom/), evidence: { hook: "stepEnd", onError: "halt" } } });
    expect(loadCheckpoint(join(halted.config.out, "checkpoints", "step-1")).state).toMatchObject({ tag: "halted" });
    expect(halted.decisions.filter((d) => d.action === "plugin-error")).toHaveLength(1);
    // No plugin error leaves a checkpoint that does not load.
    for (const run of [warned.config.out, disabled.config.out]) {
      const steps = listCheckpoints(join(run, "checkpoints"));
      expect(steps.length).toBeGreaterThan(0);
      for (const st of steps) expect(loadCheckpoint(join(run, "checkpoints", `step-${st}`)).state.step).toBe(st);
    }
  });

  it("runs every shutdown tap even when one throws", async () => {
    const seen: string[] = [];
    const a = plugin("a", (t) => t.hooks.shutdown.tap("a", () => { seen.push("a"); throw new Error("a failed"); }));
    const b = plugin("b", (t) => t.hooks.shutdown.tapPromise("b", async () => { seen.push("b"); }));
    const { summary } = await tinyRun({ steps: 2 }, [a, b]);
    expect(summary.status).toBe("completed");
    expect(seen).toEqual(["a", "b"]);
  });

  it("keeps plugin state in checkpoints and restores it on resume", async () => {
    class Counter implements MtxPlugin {
      readonly name = "counter";
      n = 0;
      apply(t: TrainerApi) { t.hooks.stepEnd.tap(this.name, () => { this.n++; }); }
      state() { return { n: this.n }; }
      restore(s: unknown) { this.n = (s as { n: number }).n; }
    }
    const first = await tinyRun({ steps: 5 }, [new Counter()]);
    const again = new Counter();
    const config = { ...first.config, steps: 8 };
    await new Trainer(config, [again], { resume: true }).train();
    expect(again.n).toBe(8);
    expect(existsSync(join(config.out, "checkpoints", "step-8"))).toBe(true);
  });

  it("refuses to start from a checkpoint without moments unless resetOptimizer is set", async () => {
    const { config } = await tinyRun({ steps: 2 });
    const dir = join(config.out, "checkpoints", "step-2");
    const { saveCheckpoint } = await import("../../core/checkpoint/Checkpoint.js");
    const c = loadCheckpoint(dir);
    const noOpt = saveCheckpoint(join(config.out, "bare"), { state: c.state, weights: c.weights, tokenizerJson: c.tokenizerJson });
    await expect(tinyRun({ steps: 1, from: noOpt })).rejects.toThrow(/has no optimizer moments.*--reset-optimizer/);
    const ok = await tinyRun({ steps: 1, from: noOpt, resetOptimizer: true });
    expect(ok.summary.resetOptimizer).toBe(true);
    expect(ok.decisions[0]).toMatchObject({ action: "reset-optimizer" });
  });

  it("reads the peak LR from the starting checkpoint with peakLr 'from-checkpoint'", async () => {
    const { config, metrics } = await tinyRun({ steps: 3, schedule: { type: "constant", peakLr: 0.0025, warmupSteps: 0 } });
    const from = join(config.out, "checkpoints", "step-3");
    const next = await tinyRun({ steps: 2, from, schedule: { type: "constant", peakLr: "from-checkpoint", warmupSteps: 0 } });
    expect(metrics.at(-1)!.lr).toBe(0.0025);
    expect(next.metrics.map((m) => m.lr)).toEqual([0.0025, 0.0025]);
    expect(readJsonl(join(next.config.out, "metrics.jsonl"))).toHaveLength(2);
  });

  it("a new run from a checkpoint continues its data stream instead of replaying it", async () => {
    const ids: string[][] = [];
    const recorder = plugin("rec", (t) => t.hooks.transformBatch.tap("rec", (b) => { ids.push(b.samples.map((x) => x.id)); return b; }));
    await tinyRun({ steps: 6 }, [recorder]);
    const straight = ids.splice(0);
    const first = await tinyRun({ steps: 3 });
    await tinyRun({ steps: 3, from: join(first.config.out, "checkpoints", "step-3") }, [recorder]);
    expect(ids).toEqual(straight.slice(3));
    ids.length = 0;
    await tinyRun({ steps: 1, seed: 99, from: join(first.config.out, "checkpoints", "step-3") }, [recorder]);
    expect(ids[0]).not.toEqual(straight[3]); // another seed: a fresh order
  });
});

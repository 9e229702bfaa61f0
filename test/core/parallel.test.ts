/**
 * Data-parallel training: the gradient shards computed on worker threads, averaged by tokens, give the
 * single-thread losses within float rounding, are deterministic run to run, resume exactly, and step
 * aside when a plugin adds loss terms on the whole batch.
 */
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ContrastivePlugin } from "../../plugins/methods/contrastive.js";
import { tempDir } from "../helpers/cli.js";
import { tinyRun } from "../helpers/trainer.js";

describe("data-parallel training", () => {
  it("matches one thread within float rounding and is deterministic", async () => {
    const one = await tinyRun({ steps: 8 });
    const two = await tinyRun({ steps: 8, parallel: { threads: 2 } });
    const again = await tinyRun({ steps: 8, parallel: { threads: 2 } });
    expect(two.summary.kernels?.dataParallelThreads).toBe(2);
    expect(again.metrics.map((m) => m.loss)).toEqual(two.metrics.map((m) => m.loss));
    expect(two.metrics).toHaveLength(8);
    expect(one.metrics).toHaveLength(8);
    two.metrics.forEach((m, i) => {
      expect(Math.abs(m.loss - one.metrics[i]!.loss) / one.metrics[i]!.loss).toBeLessThan(1e-4);
      expect(Math.abs(m.gradNorm - one.metrics[i]!.gradNorm) / one.metrics[i]!.gradNorm).toBeLessThan(1e-3);
      expect(Array.from(m.sourceLoss ? Object.keys(m.sourceLoss) : [])).toEqual(Object.keys(one.metrics[i]!.sourceLoss));
    });
    // Three threads over a batch of 4: shards of 2, 1 and 1 sequences, weighted by tokens.
    const three = await tinyRun({ steps: 3, parallel: { threads: 3 } });
    expect(three.metrics).toHaveLength(3);
    three.metrics.forEach((m, i) => expect(Math.abs(m.loss - one.metrics[i]!.loss) / one.metrics[i]!.loss).toBeLessThan(1e-4));
  });

  it("resumes a data-parallel run onto the same curve", async () => {
    const straight = await tinyRun({ steps: 6, parallel: { threads: 2 }, checkpoint: { every: 3, keepLast: 5 } });
    const copy = tempDir("mtx-dp-resume-");
    cpSync(straight.config.out, copy, { recursive: true });
    rmSync(join(copy, "checkpoints", "step-6"), { recursive: true });
    const resumed = await tinyRun({ steps: 6, parallel: { threads: 2 }, out: copy, checkpoint: { every: 3, keepLast: 5 } }, [], { resume: true });
    expect(straight.metrics).toHaveLength(6);
    expect(resumed.metrics.map((m) => m.loss)).toEqual(straight.metrics.map((m) => m.loss));
  });

  it("computes steps with whole-batch loss terms on one thread, matching a one-thread run", async () => {
    const plugin = () => new ContrastivePlugin({ weight: 0.05, temperature: 0.1, minSpan: 4 });
    const two = await tinyRun({ steps: 3, parallel: { threads: 2 } }, [plugin()]);
    const one = await tinyRun({ steps: 3 }, [plugin()]);
    expect(two.summary.kernels?.dataParallelThreads).toBe(2);
    expect(two.metrics).toHaveLength(3);
    two.metrics.forEach((m, i) => {
      expect(m.terms.contrastive).toBeGreaterThan(0);
      expect(m.totalLoss).toBe(one.metrics[i]!.totalLoss);
    });
  });
});

// The drift plugin halts a run that forgets general text (no replay, aggressive LR) with exit code 3 and
// a summary naming the held-out bits-per-byte regression, and leaves a gentle run alone.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { DriftPlugin } from "../../plugins/guardrails/drift.js";
import { ROOT } from "../helpers/cli.js";
import { tinyRun } from "../helpers/trainer.js";

const opts = { every: 10, lag: 2, base: "start", warn: 0.02, act: 0.05, action: "halt" as const, maxKl: null, batches: 2, klBatches: 1 };

describe("drift plugin", () => {
  let base = "";
  beforeAll(async () => {
    const pre = await tinyRun({ steps: 60, schedule: { peakLr: 0.005, warmupSteps: 5, minLr: 0.0005 } });
    base = join(pre.config.out, "checkpoints", "step-60");
  });

  it("halts a run without replay at an aggressive LR, naming the bits-per-byte regression", async () => {
    const { summary, metrics, decisions } = await tinyRun(
      { steps: 80, from: base, data: { batchSize: 4, recipe: join(ROOT, "test", "fixtures", "tiny-noreplay-recipe.json") }, schedule: { type: "constant", peakLr: 0.02, warmupSteps: 0 } },
      [new DriftPlugin(opts)],
    );
    expect(summary).toMatchObject({ status: "halted", exitCode: 3, halt: { plugin: "drift" } });
    expect(summary.halt!.reason).toMatch(/held-out general bits per byte regressed \+\d+\.\d+% against the base/);
    const ev = summary.halt!.evidence as { delta: number; bpb: number; baseBpb: number; measuredAtStep: number; kl: number };
    expect(ev.delta).toBeGreaterThan(0.05);
    expect(ev.bpb / ev.baseBpb - 1).toBeCloseTo(ev.delta, 10);
    expect(ev.kl).toBeGreaterThan(0);
    // Measured at a multiple of `every`, acted on `lag` steps later, whatever the worker's speed.
    expect(summary.endStep).toBe(ev.measuredAtStep + opts.lag);
    // Recorded at the step it measured, with the step it arrived at.
    expect(metrics.find((m) => m.step === ev.measuredAtStep)).toMatchObject({ driftDelta: ev.delta, arrivedAt: { driftDelta: ev.measuredAtStep + opts.lag } });
    expect(metrics.at(-1)!.driftDelta).toBeUndefined();
    expect(decisions.at(-1)).toMatchObject({ action: "halt", plugin: "drift" });
  });

  it("lets a gentle run with replay complete, recording its measurements", async () => {
    const { summary, metrics } = await tinyRun({ steps: 30, from: base, schedule: { type: "constant", peakLr: 0.0003, warmupSteps: 0 } }, [new DriftPlugin(opts)]);
    expect(summary.status).toBe("completed");
    const measured = metrics.filter((m) => "driftDelta" in m) as unknown as { step: number; driftDelta: number }[];
    expect(measured.map((m) => m.step)).toEqual([10, 20]);
    for (const m of measured) expect(Math.abs(m.driftDelta)).toBeLessThan(0.05);
  });
});

/**
 * Fault injection: every kind does what it says at its step and only there, each firing is recorded, and
 * malformed specs are refused with the forms that are allowed.
 */
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseFault } from "../../core/faults.js";
import { tinyRun } from "../helpers/trainer.js";

const constant = { schedule: { type: "constant", peakLr: 0.002, warmupSteps: 0 } };

describe("fault injection", () => {
  // A model that has learnt something (loss well under ln V), so corrupting it shows.
  let trained = "";
  beforeAll(async () => {
    const pre = await tinyRun({ steps: 60, schedule: { peakLr: 0.005, warmupSteps: 5, minLr: 0.0005 } });
    trained = join(pre.config.out, "checkpoints", "step-60");
  });

  it("lr-spike multiplies the LR for its steps only", async () => {
    const { metrics, decisions } = await tinyRun({ steps: 6, ...constant, inject: ["lr-spike@3:x10:2"] });
    expect(metrics.map((m) => m.lr)).toEqual([0.002, 0.002, 0.02, 0.02, 0.002, 0.002]);
    expect(decisions.filter((d) => d.action === "inject")).toEqual([expect.objectContaining({ step: 3, fault: "lr-spike@3:x10:2" })]);
  });

  it("nan poisons one step's loss: the run halts there without applying the update", async () => {
    const { summary, decisions } = await tinyRun({ steps: 6, inject: ["nan@3"] });
    expect(summary).toMatchObject({ status: "halted", endStep: 3, halt: { plugin: "trainer", reason: expect.stringMatching(/non-finite total loss \(NaN\) at step 3/) } });
    expect(decisions.map((d) => d.action)).toEqual(["inject", "halt"]);
  });

  it("bad-batch replaces one step's tokens with uniform random ids (near ln V loss), keeping the sample ids", async () => {
    const clean = await tinyRun({ steps: 5, from: trained, ...constant });
    const bad = await tinyRun({ steps: 5, from: trained, ...constant, inject: ["bad-batch@3"] });
    expect(clean.metrics[2]!.loss).toBeLessThan(0.85 * Math.log(2048));
    expect(bad.metrics[1]!.loss).toBe(clean.metrics[1]!.loss);
    expect(bad.metrics[2]!.loss).toBeGreaterThan(0.9 * Math.log(2048));
    expect(bad.metrics[2]!.loss).toBeGreaterThan(clean.metrics[2]!.loss + 1);
    expect(Object.keys(bad.metrics[2]!.sourceLoss)).toEqual(Object.keys(clean.metrics[2]!.sourceLoss));
    expect(bad.decisions).toEqual([expect.objectContaining({ step: 3, action: "inject", fault: "bad-batch@3" })]);
  });

  it("weight-noise perturbs the weights before its step, in proportion to its scale", async () => {
    const clean = await tinyRun({ steps: 5, from: trained, ...constant });
    const small = await tinyRun({ steps: 5, from: trained, ...constant, inject: ["weight-noise@4:0.05"] });
    const large = await tinyRun({ steps: 5, from: trained, ...constant, inject: ["weight-noise@4:1"] });
    expect(small.metrics[2]!.loss).toBe(clean.metrics[2]!.loss); // nothing before step 4
    const jump = (r: typeof clean) => r.metrics[3]!.loss - clean.metrics[3]!.loss;
    expect(Math.abs(jump(small))).toBeGreaterThan(0);
    expect(jump(large)).toBeGreaterThan(Math.abs(jump(small)) + 0.2);
    expect(large.decisions).toEqual([expect.objectContaining({ step: 4, action: "inject", fault: "weight-noise@4:1" })]);
  });

  it("refuses malformed specs with the allowed forms", () => {
    for (const [spec, why] of [
      ["nan@", "is not of the form KIND@STEP"],
      ["lr-spike@5", "needs a factor"],
      ["weight-noise@3:-1", "needs a positive relative scale"],
      ["weight-noise@3", "needs a positive relative scale"],
      ["foo@3", "has an unknown kind 'foo'"],
      ["nan@0", "names a step below 1"],
      ["nan@3:x2", "takes no arguments"],
    ] as const) {
      expect(() => parseFault(spec)).toThrow(new RegExp(`inject: '${spec.replace(/[+]/g, "\\+")}' ${why}.*use lr-spike@STEP:xFACTOR`));
    }
  });
});

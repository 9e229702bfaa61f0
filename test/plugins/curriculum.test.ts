import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CurriculumPlugin, updateWeights } from "../../plugins/methods/curriculum.js";
import { tinyRun } from "../helpers/trainer.js";
import { ROOT } from "../helpers/cli.js";

const opts = { every: 5, proctor: "start", sampleSequences: 4, eta: 1, smoothing: 0.1, minShare: 0.02 };

describe("curriculum weight update (DoReMi-style)", () => {
  const recipe = { a: 0.5, b: 0.3, c: 0.2 };

  it("moves weight toward the group with the largest excess loss", () => {
    const { weights } = updateWeights(recipe, { a: 0, b: 1.5, c: -2 }, recipe, opts);
    expect(weights.b!).toBeGreaterThan(0.3);
    expect(weights.a!).toBeLessThan(0.5);
    expect(Object.values(weights).reduce((x, y) => x + y, 0)).toBeCloseTo(1, 12);
  });

  it("keeps the recipe with full smoothing or zero excess, and respects the minimum share", () => {
    expect(updateWeights(recipe, { a: 3, b: 0, c: 0 }, recipe, { ...opts, smoothing: 1 }).weights).toEqual(recipe);
    const same = updateWeights(recipe, { a: 0, b: 0, c: 0 }, recipe, opts).weights;
    for (const g of Object.keys(recipe)) expect(same[g]!).toBeCloseTo(recipe[g as keyof typeof recipe], 12);
    const floored = updateWeights(recipe, { a: 30, b: 0, c: 0 }, recipe, { ...opts, smoothing: 0, minShare: 0.1 }).weights;
    expect(Math.min(...Object.values(floored))).toBeGreaterThanOrEqual(0.1 / (1 + 0.2) - 1e-12);
  });
});

describe("curriculum plugin in a run", () => {
  it("raises the weight of the group the main model is behind the proctor on; without it the weights are the recipe's", async () => {
    // The proctor has learnt the synthetic group only: for a fresh main model that group is the harder one.
    const proctor = await tinyRun({ steps: 40, data: { batchSize: 4, recipe: join(ROOT, "test", "fixtures", "tiny-math-recipe.json") } });
    const proctorDir = join(proctor.config.out, "checkpoints", "step-40");
    const plugin = new CurriculumPlugin({ ...opts, proctor: proctorDir });
    const withPlugin = await tinyRun({ steps: 21 }, [plugin]);
    const last = withPlugin.metrics.at(-1)!.mixtureWeights;
    // It acts from step 1: the first step already trains on the re-weighted mix.
    expect(withPlugin.metrics[0]!.mixtureWeights.synthetic!).toBeGreaterThan(0.5);
    expect(last.synthetic!).toBeGreaterThan(0.6);
    expect(last.synthetic!).toBeGreaterThanOrEqual(withPlugin.metrics[0]!.mixtureWeights.synthetic!);
    expect(last.replay! + last.synthetic!).toBeCloseTo(1, 12);
    expect((plugin.state() as { excess: Record<string, number> }).excess.synthetic!).toBeGreaterThan((plugin.state() as { excess: Record<string, number> }).excess.replay!);
    // Its scoring is counted: the proctor once, then the model at each re-weighting, each group's batch a forward pass.
    const reweights = withPlugin.metrics.filter((m) => (m as unknown as Record<string, number>)["curriculum.flops"] !== undefined);
    const flops = reweights.map((m) => (m as unknown as Record<string, number>)["curriculum.flops"]!);
    expect(reweights.length).toBe(Math.ceil(21 / opts.every));
    const perPass = flops[0]! / 2; // the proctor's pass and the first re-weighting's, same shapes
    for (const [i, f] of flops.entries()) expect(f).toBeCloseTo((i + 2) * perPass, 0);
    expect((plugin.state() as { flops: number }).flops).toBe(flops.at(-1));

    const without = await tinyRun({ steps: 21 });
    expect(without.metrics).toHaveLength(21);
    for (const m of without.metrics) expect(m.mixtureWeights).toEqual({ replay: 0.5, synthetic: 0.5 });
  });
});

import { describe, expect, it } from "vitest";
import { learningRate, type ResolvedSchedule } from "../../../core/optim/schedules.js";

const base: ResolvedSchedule = { type: "warmup-cosine", peakLr: 1e-3, minLr: 1e-4, warmupSteps: 10, decayFraction: 0.1, totalSteps: 110 };

describe("learning-rate schedules", () => {
  it("warmup-cosine: linear re-warmup, then cosine from peak to minLr", () => {
    expect(learningRate(1, base)).toBeCloseTo(1e-4, 12);
    expect(learningRate(10, base)).toBeCloseTo(1e-3, 12);
    expect(learningRate(60, base)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 12); // half way: the midpoint
    expect(learningRate(110, base)).toBeCloseTo(1e-4, 12);
  });

  it("wsd: stable at the peak, linear decay over the last 10%", () => {
    const s = { ...base, type: "wsd" as const };
    expect(learningRate(50, s)).toBe(1e-3);
    expect(learningRate(99, s)).toBe(1e-3);
    expect(learningRate(110, s)).toBeCloseTo(1e-4, 12);
    expect(learningRate(105, s)).toBeCloseTo(1e-3 - 9e-4 * (6 / 11), 12); // decay starts after step 99, spans 11 steps
  });

  it("linear: to zero at the last step; constant: the peak", () => {
    expect(learningRate(110, { ...base, type: "linear", warmupSteps: 0 })).toBe(0);
    expect(learningRate(55, { ...base, type: "linear", warmupSteps: 0 })).toBeCloseTo(5e-4, 12);
    expect(learningRate(77, { ...base, type: "constant" })).toBe(1e-3);
  });
});

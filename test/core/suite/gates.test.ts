// Gate rules with known numbers: each rule passes on one side of its threshold and fails on the other, a
// missing metric fails, a relative rule without a baseline is "not applied" (and does not fail the suite),
// maxDrop carries z standard errors of slack (binomial when the probe measured none), and beyondSe lets a
// relative rule fail only on a difference larger than the noise.
import { describe, expect, it } from "vitest";
import { evaluateGate, notSupportedGate, type Measured } from "../../../core/suite/gates.js";
import type { Gate } from "../../../core/suite/suite.js";

const gate = (g: Partial<Gate> & { metric: string }): Gate => ({ z: 0, ...g });
const m = (value: number, se?: number, n = 100): Measured => ({ metrics: { x: value }, stderr: se === undefined ? undefined : { x: se }, n });

describe("gates", () => {
  it("min and max are absolute floors and ceilings", () => {
    expect(evaluateGate(gate({ metric: "x", min: 0.5 }), m(0.5), undefined).status).toBe("pass");
    const low = evaluateGate(gate({ metric: "x", min: 0.5 }), m(0.49), undefined);
    expect(low).toMatchObject({ status: "fail", pass: false, threshold: 0.5, value: 0.49 });
    expect(low.message).toMatch(/x 0\.4900 is below the floor 0\.5/);
    expect(evaluateGate(gate({ metric: "x", max: 2 }), m(2), undefined).status).toBe("pass");
    expect(evaluateGate(gate({ metric: "x", max: 2 }), m(2.01), undefined).status).toBe("fail");
  });

  it("maxRelative allows the baseline times 1 + r", () => {
    const g = gate({ metric: "x", maxRelative: 0.02 });
    expect(evaluateGate(g, m(2.039), m(2)).status).toBe("pass");
    const r = evaluateGate(g, m(2.041), m(2));
    expect(r.status).toBe("fail");
    expect(r.threshold).toBeCloseTo(2.04, 12);
    expect(r.message).toMatch(/2\.05% above the baseline 2\.0000/);
  });

  it("maxIncrease allows the baseline plus d", () => {
    const g = gate({ metric: "x", maxIncrease: 0.1 });
    expect(evaluateGate(g, m(0.29), m(0.2)).status).toBe("pass");
    expect(evaluateGate(g, m(0.31), m(0.2))).toMatchObject({ status: "fail", baseline: 0.2 });
  });

  it("maxDrop allows the baseline minus d minus z standard errors of the difference", () => {
    // se of the difference: hypot(0.03, 0.04) = 0.05; with z = 2 the floor is 0.8 - 0.1 - 0.1 = 0.6.
    const g = gate({ metric: "x", maxDrop: 0.1, z: 2 });
    expect(evaluateGate(g, m(0.61, 0.03), m(0.8, 0.04)).status).toBe("pass");
    const r = evaluateGate(g, m(0.59, 0.03), m(0.8, 0.04));
    expect(r.status).toBe("fail");
    expect(r.threshold).toBeCloseTo(0.6, 12);
    // Without measured errors a proportion takes the binomial one: sqrt(0.8 x 0.2 / 100) = 0.04, floor 0.62.
    expect(evaluateGate(g, m(0.63), m(0.8)).status).toBe("pass");
    expect(evaluateGate(g, m(0.61), m(0.8)).threshold).toBeCloseTo(0.62, 12);
    expect(evaluateGate(g, m(0.61), m(0.8)).status).toBe("fail");
  });

  it("beyondSe: a relative rule fails only when the difference is also beyond k standard errors", () => {
    // 5% above the baseline breaks a 2% rule, but the se of the difference is hypot(0.06, 0.08) = 0.1 and
    // 2 se = 0.2 > 0.1: noise, so it passes. With small errors the same difference fails.
    const g = gate({ metric: "x", maxRelative: 0.02, beyondSe: 2 });
    expect(evaluateGate(g, m(2.1, 0.06), m(2, 0.08)).status).toBe("pass");
    expect(evaluateGate(g, m(2.1, 0.006), m(2, 0.008)).status).toBe("fail");
    expect(evaluateGate(g, m(2.21, 0.06), m(2, 0.08)).status).toBe("fail");
    const drop = gate({ metric: "x", maxDrop: 0.01, beyondSe: 2 });
    expect(evaluateGate(drop, m(0.75, 0.03), m(0.8, 0.04)).status).toBe("pass");
    expect(evaluateGate(drop, m(0.69, 0.03), m(0.8, 0.04)).status).toBe("fail");
  });

  it("a missing or non-finite metric fails, naming it", () => {
    const r = evaluateGate(gate({ metric: "y", min: 0 }), m(1), undefined);
    expect(r).toMatchObject({ status: "fail", pass: false, value: null });
    expect(r.message).toMatch(/metric 'y' is missing or not finite/);
    expect(evaluateGate(gate({ metric: "x", max: 1 }), m(Number.NaN), undefined).status).toBe("fail");
  });

  it("a relative rule without a baseline is not applied, and says so; an absolute rule on it still applies", () => {
    const r = evaluateGate(gate({ metric: "x", maxRelative: 0.02 }), m(5), undefined);
    expect(r).toMatchObject({ status: "not-applied", pass: true });
    expect(r.message).toMatch(/no baseline value, so the relative gate .* was not applied/);
    expect(evaluateGate(gate({ metric: "x", maxRelative: 0.02, max: 4 }), m(5), undefined).status).toBe("fail");
  });

  it("a metric the model source cannot compute fails loudly", () => {
    expect(notSupportedGate(gate({ metric: "x", min: 0 }), "not supported by this model source")).toMatchObject({ status: "not-supported", pass: false });
  });
});

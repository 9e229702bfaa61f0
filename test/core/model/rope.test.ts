// RoPE frequencies and context-extension scalings against the reference formulas
// (Hugging Face transformers modeling_rope_utils.py), to 1e-6.
import { describe, expect, it } from "vitest";
import { inverseFrequencies, ropeAttentionFactor } from "../../../core/model/rope.js";

const d = 32;
const base = 10000;
const none = inverseFrequencies(d, { base });
const close = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).forEach((x, i) => expect(Math.abs(x - b[i]!)).toBeLessThan(1e-6 * Math.max(1, Math.abs(b[i]!))));

describe("rotary frequencies", () => {
  it("default: base^(-2i/d)", () => {
    close(none, Array.from({ length: d / 2 }, (_, i) => base ** ((-2 * i) / d)));
  });

  it("linear position interpolation divides every frequency by s", () => {
    close(inverseFrequencies(d, { base, type: "linear", factor: 4 }), Array.from(none, (x) => x / 4));
  });

  it("NTK-aware raises the base by s^(d/(d-2)): the highest frequency stays, the lowest is divided by s", () => {
    const ntk = inverseFrequencies(d, { base, type: "ntk", factor: 4 });
    close(ntk, Array.from({ length: d / 2 }, (_, i) => (base * 4 ** (d / (d - 2))) ** ((-2 * i) / d)));
    expect(ntk[0]).toBe(1);
    expect(Math.abs(ntk[d / 2 - 1]! - none[d / 2 - 1]! / 4)).toBeLessThan(1e-12);
  });

  it("dynamic NTK changes nothing up to the original context, then scales the base with the length", () => {
    close(inverseFrequencies(d, { base, type: "dynamic-ntk", factor: 4, originalContext: 128, seqLen: 128 }), none);
    const at512 = inverseFrequencies(d, { base, type: "dynamic-ntk", factor: 4, originalContext: 128, seqLen: 512 });
    const scaled = base * ((4 * 512) / 128 - 3) ** (d / (d - 2));
    close(at512, Array.from({ length: d / 2 }, (_, i) => scaled ** ((-2 * i) / d)));
  });

  it("YaRN keeps high frequencies, interpolates low ones, and ramps between (beta_fast 32, beta_slow 1)", () => {
    const s = 4;
    const yarn = inverseFrequencies(d, { base, type: "yarn", factor: s, originalContext: 128 });
    // dim(r) = d ln(L0 / (2 pi r)) / (2 ln base): low = max(floor(dim(32)), 0) = 0, high = ceil(dim(1)) = 6.
    const dim = (r: number) => (d * Math.log(128 / (2 * Math.PI * r))) / (2 * Math.log(base));
    expect(Math.max(Math.floor(dim(32)), 0)).toBe(0);
    expect(Math.ceil(dim(1))).toBe(6);
    const expected = Array.from(none, (x, i) => {
      const ramp = Math.min(1, Math.max(0, i / 6));
      return (x / s) * ramp + x * (1 - ramp);
    });
    close(yarn, expected);
    expect(yarn[0]).toBe(none[0]); // extrapolated
    expect(Math.abs(yarn[10]! - none[10]! / s)).toBeLessThan(1e-15); // interpolated
    expect(ropeAttentionFactor({ base, type: "yarn", factor: s })).toBeCloseTo(0.1 * Math.log(4) + 1, 12);
    expect(ropeAttentionFactor({ base, type: "linear", factor: s })).toBe(1);
  });

  it("names the missing field for scalings that need the original context", () => {
    expect(() => inverseFrequencies(d, { base, type: "yarn", factor: 2 })).toThrow(/needs originalContext/);
  });
});

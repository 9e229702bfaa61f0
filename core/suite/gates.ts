/**
 * Gate evaluation: absolute bounds, a relative bound against the baseline (bits per byte within 2%),
 * and a drop bound for proportions that allows z standard errors of sampling noise, so a gate does not
 * flap between runs of equal models: value >= baseline - maxDrop - z * sqrt(p (1 - p) / n).
 */
import type { Gate } from "./suite.js";

export interface GateResult {
  metric: string;
  rule: string;
  value: number | null;
  baseline: number | null;
  threshold: number | null;
  pass: boolean;
  message: string;
}

export function evaluateGate(gate: Gate, metrics: Record<string, number>, baseline: Record<string, number> | undefined, n: number): GateResult {
  const value = metrics[gate.metric];
  const base = baseline?.[gate.metric];
  const out = (rule: string, threshold: number | null, pass: boolean, message: string): GateResult => ({ metric: gate.metric, rule, value: value ?? null, baseline: base ?? null, threshold, pass, message });
  if (value === undefined || !Number.isFinite(value)) return out("present", null, false, `metric '${gate.metric}' is missing or not finite (${value})`);
  const fmt = (x: number) => (Math.abs(x) >= 10 ? x.toFixed(2) : x.toFixed(4));
  if (gate.min !== undefined && value < gate.min) return out(`>= ${gate.min}`, gate.min, false, `${gate.metric} ${fmt(value)} is below the floor ${gate.min}`);
  if (gate.max !== undefined && value > gate.max) return out(`<= ${gate.max}`, gate.max, false, `${gate.metric} ${fmt(value)} is above the ceiling ${gate.max}`);
  if (gate.maxRelative !== undefined || gate.maxDrop !== undefined || gate.maxIncrease !== undefined) {
    if (base === undefined || !Number.isFinite(base)) return out("baseline", null, true, `no baseline value for ${gate.metric}: relative gate not applied`);
    if (gate.maxRelative !== undefined) {
      const limit = base * (1 + gate.maxRelative);
      const rule = `<= baseline x ${1 + gate.maxRelative}`;
      if (value > limit) return out(rule, limit, false, `${gate.metric} ${fmt(value)} is ${((value / base - 1) * 100).toFixed(2)}% above the baseline ${fmt(base)} (allowed +${(gate.maxRelative * 100).toFixed(1)}%)`);
    }
    if (gate.maxIncrease !== undefined && value > base + gate.maxIncrease) {
      return out(`<= baseline + ${gate.maxIncrease}`, base + gate.maxIncrease, false, `${gate.metric} ${fmt(value)} rose more than ${gate.maxIncrease} above the baseline ${fmt(base)}`);
    }
    if (gate.maxDrop !== undefined) {
      const p = Math.min(1, Math.max(0, base));
      const se = Math.sqrt((p * (1 - p)) / Math.max(1, n));
      const limit = base - gate.maxDrop - gate.z * se;
      const rule = `>= baseline - ${gate.maxDrop} - ${gate.z} se`;
      if (value < limit) return out(rule, limit, false, `${gate.metric} ${fmt(value)} dropped below ${fmt(limit)} (baseline ${fmt(base)}, allowed drop ${gate.maxDrop} + ${gate.z} x ${fmt(se)} sampling error)`);
    }
  }
  const rules = [gate.min !== undefined && `>= ${gate.min}`, gate.max !== undefined && `<= ${gate.max}`, gate.maxRelative !== undefined && `<= baseline x ${1 + gate.maxRelative}`, gate.maxIncrease !== undefined && `<= baseline + ${gate.maxIncrease}`, gate.maxDrop !== undefined && `>= baseline - ${gate.maxDrop}`].filter(Boolean).join(", ");
  return out(rules, null, true, `${gate.metric} ${fmt(value)} passes (${rules})`);
}

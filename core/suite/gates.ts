/**
 * Gate evaluation. Absolute bounds (`min`, `max`) read the value alone. Relative bounds read it against the
 * baseline's: `maxRelative` (bits per byte within 2%), `maxIncrease` (rates), `maxDrop` (proportions, with
 * `z` standard errors of slack so equal models do not flap). With `beyondSe: k` a relative bound fails only
 * when the difference is also beyond k standard errors of the difference, sqrt(se_value^2 + se_baseline^2):
 * a regression, not noise. Standard errors come from the probe (probes/stats.ts); a proportion without one
 * takes the binomial sqrt(p (1 - p) / n).
 *
 * Statuses: `pass`, `fail`, `not-applied` (a relative gate with no baseline: it says so rather than "ok"),
 * `not-supported` (the model source cannot compute the metric: a failure, loudly).
 */
import type { Gate } from "./suite.js";

export type GateStatus = "pass" | "fail" | "not-applied" | "not-supported";

export interface GateResult {
  metric: string;
  rule: string;
  status: GateStatus;
  value: number | null;
  baseline: number | null;
  /** Standard errors of value and baseline, when the probe measured them. */
  se: number | null;
  baselineSe: number | null;
  threshold: number | null;
  /** False only for `fail` and `not-supported`. */
  pass: boolean;
  message: string;
}

export interface Measured {
  metrics: Record<string, number>;
  stderr?: Record<string, number>;
  n: number;
}

const fmt = (x: number) => (Math.abs(x) >= 10 ? x.toFixed(2) : x.toFixed(4));

function rulesOf(gate: Gate): string {
  return [
    gate.min !== undefined && `>= ${gate.min}`,
    gate.max !== undefined && `<= ${gate.max}`,
    gate.maxRelative !== undefined && `<= baseline x ${1 + gate.maxRelative}`,
    gate.maxIncrease !== undefined && `<= baseline + ${gate.maxIncrease}`,
    gate.maxDrop !== undefined && `>= baseline - ${gate.maxDrop}`,
    gate.beyondSe !== undefined && `beyond ${gate.beyondSe} se`,
  ]
    .filter(Boolean)
    .join(", ");
}

export function isRelative(gate: Gate): boolean {
  return gate.maxRelative !== undefined || gate.maxDrop !== undefined || gate.maxIncrease !== undefined;
}

/** A gate on a probe the model source could not run. */
export function notSupportedGate(gate: Gate, reason: string): GateResult {
  return { metric: gate.metric, rule: rulesOf(gate), status: "not-supported", value: null, baseline: null, se: null, baselineSe: null, threshold: null, pass: false, message: `${gate.metric}: ${reason}` };
}

export function evaluateGate(gate: Gate, cand: Measured, base: Measured | undefined): GateResult {
  const value = cand.metrics[gate.metric];
  const b = base?.metrics[gate.metric];
  const se = cand.stderr?.[gate.metric];
  const bse = base?.stderr?.[gate.metric];
  const out = (status: GateStatus, rule: string, threshold: number | null, message: string): GateResult => ({
    metric: gate.metric,
    rule,
    status,
    value: value ?? null,
    baseline: b ?? null,
    se: se ?? null,
    baselineSe: bse ?? null,
    threshold,
    pass: status === "pass" || status === "not-applied",
    message,
  });
  if (value === undefined || !Number.isFinite(value)) return out("fail", "present", null, `metric '${gate.metric}' is missing or not finite (${value})`);
  if (gate.min !== undefined && value < gate.min) return out("fail", `>= ${gate.min}`, gate.min, `${gate.metric} ${fmt(value)} is below the floor ${gate.min}`);
  if (gate.max !== undefined && value > gate.max) return out("fail", `<= ${gate.max}`, gate.max, `${gate.metric} ${fmt(value)} is above the ceiling ${gate.max}`);
  if (isRelative(gate)) {
    if (b === undefined || !Number.isFinite(b)) return out("not-applied", rulesOf(gate), null, `${gate.metric}: no baseline value, so the relative gate (${rulesOf(gate)}) was not applied`);
    // The standard error of the difference; a proportion without a measured one takes the binomial error.
    const binomial = (p: number) => Math.sqrt((Math.min(1, Math.max(0, p)) * (1 - Math.min(1, Math.max(0, p)))) / Math.max(1, cand.n));
    const seDiff = se !== undefined && bse !== undefined ? Math.hypot(se, bse) : undefined;
    const noise = gate.beyondSe !== undefined ? gate.beyondSe * (seDiff ?? 0) : 0;
    const within = `(difference ${fmt(value - b)}${seDiff !== undefined ? `, se of the difference ${fmt(seDiff)}` : ""})`;
    if (gate.maxRelative !== undefined) {
      const limit = Math.max(b * (1 + gate.maxRelative), b + noise);
      if (value > limit) return out("fail", `<= baseline x ${1 + gate.maxRelative}${gate.beyondSe !== undefined ? `, beyond ${gate.beyondSe} se` : ""}`, limit, `${gate.metric} ${fmt(value)} is ${((value / b - 1) * 100).toFixed(2)}% above the baseline ${fmt(b)} (allowed +${(gate.maxRelative * 100).toFixed(1)}%${gate.beyondSe !== undefined ? ` and ${gate.beyondSe} se` : ""}) ${within}`);
    }
    if (gate.maxIncrease !== undefined) {
      const limit = b + Math.max(gate.maxIncrease, noise);
      if (value > limit) return out("fail", `<= baseline + ${gate.maxIncrease}`, limit, `${gate.metric} ${fmt(value)} rose more than ${fmt(limit - b)} above the baseline ${fmt(b)} ${within}`);
    }
    if (gate.maxDrop !== undefined) {
      const slack = gate.z * (seDiff ?? binomial(b));
      const limit = b - Math.max(gate.maxDrop + slack, noise);
      if (value < limit) return out("fail", `>= baseline - ${gate.maxDrop} - ${gate.z} se`, limit, `${gate.metric} ${fmt(value)} dropped below ${fmt(limit)} (baseline ${fmt(b)}, allowed drop ${gate.maxDrop} + ${gate.z} x ${fmt(seDiff ?? binomial(b))} standard error) ${within}`);
    }
  }
  return out("pass", rulesOf(gate), null, `${gate.metric} ${fmt(value)} passes (${rulesOf(gate)})`);
}

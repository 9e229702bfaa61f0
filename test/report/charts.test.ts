// The report's charts as specs: one x-range for every step chart, every series in a legend, decisions at
// the same step stacked, sparse series as points or joined only to adjacent measurements, log-scale LR,
// an EMA beside the raw loss, a panel per plugin metric, and a 100k-step run downsampled with its
// min/max band and every decision marker kept.
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { downsample, ema, MAX_POINTS, runPlots, segmented } from "../../core/report/charts.js";
import type { RunRecord } from "../../core/report/loadRun.js";
import type { StepMetrics } from "../../core/run/records.js";
import { mtx, tempDir } from "../helpers/cli.js";

type Spec = Record<string, unknown> & { layer?: Spec[]; encoding?: Record<string, { field?: string; scale?: { domain?: unknown; type?: string } }>; data?: { values: Record<string, unknown>[] }; mark?: unknown };

/** Every layer of a spec, nested layers included. */
function layers(spec: Spec): Spec[] {
  return spec.layer ? spec.layer.flatMap(layers) : [spec];
}

function run(steps: number, extra: (step: number) => Partial<StepMetrics> = () => ({})): RunRecord {
  const metrics = Array.from({ length: steps }, (_, i) => {
    const step = i + 1;
    return { step, loss: 4 - step / steps + (step % 7) / 10, totalLoss: 4, terms: {}, gradNorm: 1 + (step % 3), updateNorm: 0.1, lr: 1e-3 * Math.min(1, step / 10), tokens: step * 100, tokensPerSec: 1000, stepTimeMs: 10, time: 1e12 + step, sourceLoss: { brown: 4, ...(step % 20 === 0 ? { lodash: 5 } : {}) }, skipped: false, mixtureWeights: { a: 0.5, b: 0.5 }, trainableParams: 10, ...extra(step) } as StepMetrics;
  });
  return {
    name: "r",
    dir: "/r",
    config: undefined,
    summary: undefined,
    metrics,
    decisions: [
      { step: 60, action: "inject", plugin: "faults", reason: "injected fault nan@60", time: "" },
      { step: 60, action: "skip", plugin: "spike", reason: "non-finite", time: "" },
      { step: 90, action: "warn", plugin: "drift", reason: "drift", time: "" },
    ],
    probes: [],
    mixture: undefined,
  };
}

describe("report charts", () => {
  const r = run(120, (step) => ({ ...(step % 50 === 0 ? { heldoutLoss: 4.2, heldoutBpb: 2, driftBpb: 2.01, driftBaseBpb: 2, driftKl: 0.1 } : {}), ...(step % 5 === 0 ? { "custom.score": step / 100 } : {}) }));
  const plots = runPlots(r);
  const byId = Object.fromEntries(plots.map((p) => [p.id, p.spec as Spec]));

  it("draws every step chart over the run's one x-range", () => {
    const domains = new Set<string>();
    for (const p of plots.filter((p) => p.id !== "needle")) {
      const spec = p.spec as Spec;
      for (const l of spec.layer ? layers(spec) : [spec]) if (l.encoding?.x?.field === "step") domains.add(JSON.stringify(l.encoding.x.scale?.domain));
    }
    expect([...domains]).toEqual([JSON.stringify([0, 120])]);
  });

  it("names every series: raw loss, its EMA and held-out loss; LR on a log scale; a panel per plugin", () => {
    const names = (id: string) => new Set(layers(byId[id]!).flatMap((l) => (l.data?.values ?? []).map((v) => v.series).filter(Boolean)));
    expect([...names("loss")]).toEqual(["train loss", "train loss (EMA 0.9)", "held-out loss (eval)"]);
    const heldout = layers(byId.loss!).find((l) => l.data?.values.some((v) => v.series === "held-out loss (eval)"))!;
    expect(heldout.mark).toMatchObject({ type: "point" });
    expect((heldout.encoding as Record<string, { legend?: unknown }>).color!.legend).not.toBeNull();
    expect(layers(byId.lr!).find((l) => l.data?.values.some((v) => v.series === "learning rate"))!.encoding!.y!.scale!.type).toBe("log");
    expect([...names("plugin-custom")]).toEqual(["custom.score"]);
    expect([...names("heldout")].sort()).toEqual(["base model (drift)", "held-out bpb (eval)", "held-out general bpb (drift)"]);
  });

  it("stacks decisions that share a step and keeps every one", () => {
    const triangles = layers(byId.loss!).filter((l) => (l.mark as { shape?: string }).shape === "triangle-down");
    expect(triangles.map((l) => (l.mark as { y: number }).y)).toEqual([0, 11]);
    const data = triangles[0]!.data!.values;
    expect(data.map((d) => [d.step, d.action, d.slot])).toEqual([[60, "inject", 0], [60, "skip", 1], [90, "warn", 0]]);
  });

  it("draws a source seen in few steps as points, and breaks a line at a long gap", () => {
    const lodash = layers(byId["loss-by-source"]!).find((l) => l.data?.values.some((v) => v.series === "lodash"))!;
    expect(lodash.mark).toMatchObject({ type: "point" });
    const rows = segmented([1, 2, 3, 4, 50, 51, 52].map((step) => ({ step, value: 1, series: "s" })));
    expect(rows.map((x) => x.segment)).toEqual(["s#0", "s#0", "s#0", "s#0", "s#1", "s#1", "s#1"]);
    expect(segmented([50, 100, 150].map((step) => ({ step, value: 1, series: "eval" }))).map((x) => x.segment)).toEqual(["eval#0", "eval#0", "eval#0"]);
  });

  it("smooths with a debiased EMA and downsamples to bucket means with the bucket's min and max", () => {
    expect(ema([{ step: 1, value: 2 }, { step: 2, value: 2 }]).map((x) => x.value)).toEqual([2, 2]);
    const e = ema([{ step: 1, value: 0 }, { step: 2, value: 10 }], 0.5);
    expect(e[1]!.value).toBeCloseTo((0.5 * 0.5 * 0 + 0.5 * 10) / (1 - 0.25), 10);
    const rows = Array.from({ length: 10_000 }, (_, i) => ({ step: i + 1, value: i === 4321 ? 100 : 1 }));
    const d = downsample(rows, 100);
    expect(d).toHaveLength(100);
    expect(Math.max(...d.map((x) => x.hi!))).toBe(100);
    expect(d.find((x) => x.hi === 100)!.value).toBeCloseTo((99 + 100) / 100, 10);
  });

  it("mtx report on a 100k-step run writes a page of bounded size with every decision", () => {
    const dir = join(tempDir(), "long");
    mkdirSync(dir);
    const lines: string[] = [];
    for (let step = 1; step <= 100_000; step++) lines.push(JSON.stringify({ step, loss: 3 + Math.sin(step / 1000), lr: 1e-3, gradNorm: 1, updateNorm: 0.01, time: 1e12 + step, sourceLoss: { brown: 3 }, mixtureWeights: { a: 1 }, terms: {} }));
    writeFileSync(join(dir, "metrics.jsonl"), lines.join("\n") + "\n");
    const decisions = [17, 50_000, 50_000, 99_999].map((step, i) => JSON.stringify({ step, action: i === 2 ? "skip" : "warn", plugin: "p", reason: `reason ${i}`, time: "" }));
    writeFileSync(join(dir, "decisions.jsonl"), decisions.join("\n") + "\n");
    const r = mtx(["report", dir, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const size = statSync(join(dir, "report.html")).size;
    expect(size).toBeLessThan(5e6); // 84 MB before downsampling
    const page = readFileSync(join(dir, "report.html"), "utf8");
    for (let i = 0; i < 4; i++) expect(page).toContain(`reason ${i}`);
  });
});

/**
 * The report's plots as Vega-Lite specs, built from run records. Each plot is a pure function of the
 * data; render.ts turns specs into SVG. Verdict and decision markers are vertical rules with a point on
 * top whose hover text (an SVG <title>) gives the action, plugin and reason.
 */
import type { DecisionRecord, ProbeRecord, RunRecord } from "./loadRun.js";

export interface Plot {
  id: string;
  title: string;
  spec: Record<string, unknown>;
}

const WIDTH = 640;
const HEIGHT = 220;
const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";
/** Decisions drawn as markers; colours by kind. */
const MARKER_COLORS: Record<string, string> = {
  halt: "#d62728",
  rollback: "#9467bd",
  skip: "#ff7f0e",
  "reduce-lr": "#e7ba52",
  warn: "#8c8c8c",
  inject: "#17becf",
  unfreeze: "#2ca02c",
  "plugin-error": "#8c564b",
  "reset-optimizer": "#bcbd22",
};

function base(title: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { $schema: SCHEMA, title, width: WIDTH, height: HEIGHT, config: { font: "Helvetica, Arial, sans-serif", view: { stroke: null } }, ...extra };
}

export function markerData(decisions: DecisionRecord[]): Record<string, unknown>[] {
  return decisions
    .filter((d) => d.action in MARKER_COLORS)
    .map((d) => ({ step: d.step, action: d.action, label: `step ${d.step}: ${d.action} by ${d.plugin}: ${d.reason}${d.outcome ? ` (${d.outcome})` : ""}` }));
}

/** Rule + point layers marking decisions over a chart whose x is `step`. */
function markerLayers(decisions: DecisionRecord[]): Record<string, unknown>[] {
  const values = markerData(decisions);
  if (!values.length) return [];
  const actions = [...new Set(values.map((v) => v.action as string))];
  const color = { field: "action", type: "nominal", title: "decision", scale: { domain: actions, range: actions.map((a) => MARKER_COLORS[a]) } };
  return [
    { data: { values }, mark: { type: "rule", strokeDash: [4, 3], strokeWidth: 1.5 }, encoding: { x: { field: "step", type: "quantitative" }, color, description: { field: "label" } } },
    { data: { values }, mark: { type: "point", filled: true, size: 80, shape: "triangle-down", y: 0 }, encoding: { x: { field: "step", type: "quantitative" }, color: { ...color, legend: null }, description: { field: "label" } } },
  ];
}

function lineLayer(values: Record<string, unknown>[], y: string, yTitle: string, opts: { color?: string; seriesField?: string; scale?: Record<string, unknown> } = {}): Record<string, unknown> {
  const encoding: Record<string, unknown> = {
    x: { field: "step", type: "quantitative", title: "step" },
    y: { field: y, type: "quantitative", title: yTitle, scale: opts.scale?.type === "log" ? opts.scale : { zero: false, ...opts.scale } },
  };
  if (opts.seriesField) encoding.color = { field: opts.seriesField, type: "nominal", title: null, legend: { labelLimit: 320 } };
  return { data: { values }, mark: { type: "line", strokeWidth: 1.5, ...(opts.color ? { color: opts.color } : {}) }, encoding };
}

/** Per-step rows of one metric (skipping steps where it is absent). */
function series(run: RunRecord, key: string): { step: number; value: number }[] {
  return run.metrics.filter((m) => typeof m[key] === "number" && Number.isFinite(m[key] as number)).map((m) => ({ step: m.step, value: m[key] as number }));
}

function layered(title: string, layers: Record<string, unknown>[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return base(title, { layer: layers, resolve: { scale: { color: "independent" } }, ...extra });
}

/** Every plot of one run's report (plots without data are left out). */
export function runPlots(run: RunRecord): Plot[] {
  const plots: Plot[] = [];
  const markers = markerLayers(run.decisions);
  const loss = series(run, "loss").map((r) => ({ ...r, series: "train loss" }));
  const heldout = series(run, "heldoutLoss").map((r) => ({ ...r, series: "held-out loss" }));
  plots.push({
    id: "loss",
    title: "Loss (nats/token), with the guardrails' decisions",
    spec: layered("Loss", [
      lineLayer(loss, "value", "nats/token", { seriesField: "series" }),
      ...(heldout.length ? [{ data: { values: heldout }, mark: { type: "point", filled: true, size: 50, color: "#000" }, encoding: { x: { field: "step", type: "quantitative" }, y: { field: "value", type: "quantitative" }, description: { field: "series" } } }] : []),
      ...markers,
    ]),
  });
  const bySource = run.metrics.flatMap((m) => Object.entries(m.sourceLoss ?? {}).map(([source, v]) => ({ step: m.step, source, loss: v })));
  if (bySource.length) {
    plots.push({
      id: "loss-by-source",
      title: "Loss by source (mean of the last 10 steps the source appeared in)",
      spec: layered("Loss by source", [
        {
          data: { values: bySource },
          transform: [{ window: [{ op: "mean", field: "loss", as: "smoothed" }], frame: [-9, 0], groupby: ["source"], sort: [{ field: "step" }] }],
          mark: { type: "line", strokeWidth: 1.5 },
          encoding: { x: { field: "step", type: "quantitative" }, y: { field: "smoothed", type: "quantitative", title: "nats/token", scale: { zero: false } }, color: { field: "source", type: "nominal" } },
        },
        ...markers,
      ]),
    });
  }
  plots.push({ id: "lr", title: "Learning rate", spec: layered("Learning rate", [lineLayer(series(run, "lr"), "value", "LR", { color: "#4c78a8" }), ...markers]) });
  const norms = [...series(run, "gradNorm").map((r) => ({ ...r, series: "gradient norm" })), ...series(run, "updateNorm").map((r) => ({ ...r, series: "update norm" }))].filter((r) => r.value > 0);
  plots.push({ id: "norms", title: "Gradient and update norm (log scale)", spec: layered("Gradient and update norm", [lineLayer(norms, "value", "norm", { seriesField: "series", scale: { type: "log" } }), ...markers]) });

  const bpb = [
    ...series(run, "heldoutBpb").map((r) => ({ ...r, series: "held-out bpb (eval)" })),
    ...series(run, "driftBpb").map((r) => ({ ...r, series: "held-out general bpb (drift)" })),
    ...series(run, "driftBaseBpb").map((r) => ({ ...r, series: "base model" })),
  ];
  if (bpb.length) {
    plots.push({
      id: "heldout",
      title: "Held-out bits per byte against the base",
      spec: layered("Held-out bits per byte", [{ ...lineLayer(bpb, "value", "bits/byte", { seriesField: "series" }), mark: { type: "line", point: true, strokeWidth: 1.5 } }, ...markers]),
    });
  }
  const kl = series(run, "driftKl");
  if (kl.length) plots.push({ id: "kl", title: "KL(base || model) on held-out general text (nats/token)", spec: layered("KL to the base", [{ ...lineLayer(kl, "value", "nats/token", { color: "#e45756" }), mark: { type: "line", point: true, color: "#e45756" } }, ...markers]) });

  const weights = run.metrics.flatMap((m) => Object.entries(m.mixtureWeights ?? {}).map(([group, w]) => ({ step: m.step, group, weight: w })));
  if (weights.length) {
    plots.push({
      id: "mixture",
      title: "Mixture weights over time",
      spec: base("Mixture weights", {
        data: { values: weights },
        mark: { type: "area" },
        encoding: { x: { field: "step", type: "quantitative" }, y: { field: "weight", type: "quantitative", stack: "normalize", title: "share" }, color: { field: "group", type: "nominal" } },
      }),
    });
  }
  const terms = run.metrics.flatMap((m) => Object.entries(m.terms ?? {}).map(([term, v]) => ({ step: m.step, term, value: v })));
  if (terms.length) plots.push({ id: "terms", title: "Auxiliary loss terms (weighted)", spec: layered("Auxiliary loss terms", [lineLayer(terms, "value", "loss", { seriesField: "term" }), ...markers]) });
  const trainable = series(run, "trainableParams");
  if (new Set(trainable.map((r) => r.value)).size > 1) plots.push({ id: "trainable", title: "Trainable parameters (progressive unfreezing)", spec: layered("Trainable parameters", [{ ...lineLayer(trainable, "value", "parameters"), mark: { type: "line", interpolate: "step-after" } }, ...markers]) });

  const grid = latestNeedleGrid(run.probes);
  if (grid) plots.push({ id: "needle", title: `Needle-in-a-haystack accuracy (step ${grid.step})`, spec: needleSpec(grid.cells) });
  return plots;
}

export interface NeedleGridCell {
  length: number;
  depth: number;
  accuracy: number;
  meanRank: number;
}

export function latestNeedleGrid(probes: ProbeRecord[]): { step: number; cells: NeedleGridCell[] } | undefined {
  for (let i = probes.length - 1; i >= 0; i--) {
    const grid = (probes[i]!.details as { grid?: NeedleGridCell[] } | undefined)?.grid;
    if (grid?.length) return { step: probes[i]!.step, cells: grid };
  }
  return undefined;
}

export function needleSpec(cells: NeedleGridCell[]): Record<string, unknown> {
  const values = cells.map((c) => ({ ...c, depthPct: `${Math.round(c.depth * 100)}%`, label: `${Math.round(c.accuracy * 100)}%`, hover: `length ${c.length}, depth ${Math.round(c.depth * 100)}%: accuracy ${Math.round(c.accuracy * 100)}%, mean rank ${c.meanRank.toFixed(1)}` }));
  return base("Needle-in-a-haystack", {
    width: 80 * new Set(cells.map((c) => c.length)).size + 120,
    height: 36 * new Set(cells.map((c) => c.depth)).size,
    data: { values },
    encoding: { x: { field: "length", type: "ordinal", title: "context length (tokens)" }, y: { field: "depthPct", type: "ordinal", title: "needle depth", sort: null } },
    layer: [
      { mark: "rect", encoding: { color: { field: "accuracy", type: "quantitative", scale: { domain: [0, 1], scheme: "redyellowgreen" }, title: "accuracy" }, description: { field: "hover" } } },
      { mark: { type: "text", fontSize: 12 }, encoding: { text: { field: "label" }, description: { field: "hover" } } },
    ],
  });
}

/** Overlaid plots for several runs. */
export function comparePlots(runs: RunRecord[]): Plot[] {
  const tagged = (key: string) => runs.flatMap((r) => series(r, key).map((row) => ({ ...row, run: r.name })));
  const smoothLine = (values: Record<string, unknown>[], title: string, yTitle: string, window: number, scale: Record<string, unknown> = {}) =>
    base(title, {
      data: { values },
      transform: window > 1 ? [{ window: [{ op: "mean", field: "value", as: "smoothed" }], frame: [-(window - 1), 0], groupby: ["run"], sort: [{ field: "step" }] }] : [],
      mark: { type: "line", strokeWidth: 1.5 },
      encoding: { x: { field: "step", type: "quantitative" }, y: { field: window > 1 ? "smoothed" : "value", type: "quantitative", title: yTitle, scale: scale.type === "log" ? scale : { zero: false, ...scale } }, color: { field: "run", type: "nominal" } },
    });
  const plots: Plot[] = [
    { id: "loss", title: "Training loss (mean of 10 steps)", spec: smoothLine(tagged("loss"), "Training loss", "nats/token", 10) },
    { id: "lr", title: "Learning rate", spec: smoothLine(tagged("lr"), "Learning rate", "LR", 1) },
    { id: "norms", title: "Gradient norm (mean of 10 steps, log scale)", spec: smoothLine(tagged("gradNorm").filter((r) => r.value > 0), "Gradient norm", "norm", 10, { type: "log" }) },
  ];
  const heldout = tagged("heldoutBpb");
  if (heldout.length) plots.push({ id: "heldout", title: "Held-out bits per byte (eval)", spec: { ...smoothLine(heldout, "Held-out bits per byte", "bits/byte", 1), mark: { type: "line", point: true } } });
  const drift = tagged("driftBpb");
  if (drift.length) plots.push({ id: "drift", title: "Held-out general bits per byte (drift)", spec: { ...smoothLine(drift, "Drift: held-out general bits per byte", "bits/byte", 1), mark: { type: "line", point: true } } });
  const markers = runs.flatMap((r) => markerData(r.decisions).map((m) => ({ ...m, run: r.name })));
  if (markers.length) {
    plots.push({
      id: "decisions",
      title: "Guardrail decisions by run",
      spec: base("Decisions", {
        height: 40 * runs.length,
        data: { values: markers },
        mark: { type: "point", filled: true, size: 90, shape: "triangle-down" },
        encoding: { x: { field: "step", type: "quantitative" }, y: { field: "run", type: "nominal" }, color: { field: "action", type: "nominal" }, description: { field: "label" } },
      }),
    });
  }
  return plots;
}

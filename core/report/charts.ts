/**
 * The report's plots as Vega-Lite specs, built from run records. Each plot is a pure function of the
 * data; render.ts turns specs into SVG. Conventions every step chart follows:
 * - one x-range (the run's first to last step) on every chart, so charts line up;
 * - every series is named in a legend; measurements taken every so often (evals, drift, probes, a source
 *   seen in few steps) are drawn as points, joined only to the adjacent measurement of a regular series;
 * - long runs are downsampled to at most MAX_POINTS per series, each point the mean of its bucket with a
 *   band from the bucket's minimum to its maximum, so a spike stays visible; decision markers are never
 *   downsampled;
 * - decisions are vertical rules with a triangle on top whose hover text (an SVG <title>) gives the action,
 *   plugin and reason; decisions at the same step stack their triangles.
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
/** Points per series beyond which a series is drawn as bucket means with a min/max band. */
export const MAX_POINTS = 1000;
/** The loss's exponential moving average weight (TensorBoard's smoothing slider, debiased). */
const EMA = 0.9;
/** Decisions drawn as markers; colours by kind (shared by `mtx report` and `mtx compare`). */
export const MARKER_COLORS: Record<string, string> = {
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
/** Metrics with a chart of their own; any other number a plugin logs gets a panel per plugin prefix. */
const KNOWN = new Set(["step", "loss", "totalLoss", "terms", "gradNorm", "updateNorm", "lr", "tokens", "tokensPerSec", "stepTimeMs", "time", "sourceLoss", "skipped", "mixtureWeights", "trainableParams", "heldoutLoss", "heldoutBpb", "driftBpb", "driftBaseBpb", "driftDelta", "driftKl", "arrivedAt", "late", "arrivedAtStep"]);

type Row = { step: number; value: number; lo?: number; hi?: number; [k: string]: unknown };
interface Frame {
  lo: number;
  hi: number;
}

function base(title: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { $schema: SCHEMA, title, width: WIDTH, height: HEIGHT, config: { font: "Helvetica, Arial, sans-serif", view: { stroke: null }, axisX: { labelAngle: 0 } }, ...extra };
}

const xOf = (frame: Frame) => ({ field: "step", type: "quantitative", title: "step", scale: { domain: [frame.lo, frame.hi], nice: false, zero: false } });

/** The x-range of every step chart: the run's first to last step. */
export function frameOf(run: RunRecord): Frame {
  const first = run.metrics[0]?.step ?? 1;
  const lo = first;
  const hi = run.metrics.at(-1)?.step ?? 1;
  return { lo: Math.max(0, lo - 1), hi: Math.max(hi, lo) };
}

/** Bucket means with min/max of each bucket, for series longer than `max` points. */
export function downsample<T extends Row>(rows: T[], max = MAX_POINTS): T[] {
  if (rows.length <= max) return rows;
  const size = Math.ceil(rows.length / max);
  const out: T[] = [];
  for (let i = 0; i < rows.length; i += size) {
    const chunk = rows.slice(i, i + size);
    const values = chunk.map((r) => r.value);
    out.push({ ...chunk[Math.floor(chunk.length / 2)]!, value: values.reduce((a, b) => a + b, 0) / values.length, lo: Math.min(...chunk.map((r) => r.lo ?? r.value)), hi: Math.max(...chunk.map((r) => r.hi ?? r.value)) });
  }
  return out;
}

/** Debiased exponential moving average (TensorBoard's smoothing). */
export function ema(rows: Row[], weight = EMA): Row[] {
  let acc = 0;
  return rows.map((r, i) => {
    acc = weight * acc + (1 - weight) * r.value;
    return { ...r, value: acc / (1 - weight ** (i + 1)) };
  });
}

/** Decisions as markers, each with its slot among the decisions at its step (0 for the first). */
export function markerData(decisions: DecisionRecord[]): Record<string, unknown>[] {
  const perStep = new Map<number, number>();
  return decisions
    .filter((d) => d.action in MARKER_COLORS)
    .map((d) => {
      const slot = perStep.get(d.step) ?? 0;
      perStep.set(d.step, slot + 1);
      return { step: d.step, action: d.action, slot, label: `step ${d.step}: ${d.action} by ${d.plugin}: ${d.reason}${d.outcome ? ` (${d.outcome})` : ""}` };
    });
}

function markerColor(actions: string[], legend = true): Record<string, unknown> {
  return { field: "action", type: "nominal", title: "decision", scale: { domain: actions, range: actions.map((a) => MARKER_COLORS[a]) }, ...(legend ? {} : { legend: null }) };
}

/** Rule + stacked triangle layers marking decisions over a chart whose x is `step`. */
function markerLayers(decisions: DecisionRecord[], frame: Frame): Record<string, unknown>[] {
  const values = markerData(decisions);
  if (!values.length) return [];
  const actions = [...new Set(values.map((v) => v.action as string))];
  const slots = Math.max(...values.map((v) => v.slot as number)) + 1;
  return [
    { data: { values }, mark: { type: "rule", strokeDash: [4, 3], strokeWidth: 1.5 }, encoding: { x: xOf(frame), color: markerColor(actions), description: { field: "label" } } },
    ...Array.from({ length: Math.min(slots, 4) }, (_, slot) => ({
      data: { values },
      transform: [{ filter: `datum.slot == ${slot}` }],
      mark: { type: "point", filled: true, size: 80, shape: "triangle-down", y: 11 * slot, opacity: 1 },
      encoding: { x: xOf(frame), color: markerColor(actions, false), description: { field: "label" } },
    })),
  ];
}

/**
 * Each series' rows with a `segment` id that changes where the series has a gap much longer than its usual
 * spacing (a source absent for 40 steps), so a line joins only adjacent measurements.
 */
export function segmented(rows: Row[]): Row[] {
  const bySeries = new Map<string, Row[]>();
  for (const r of rows) {
    const list = bySeries.get(String(r.series));
    if (list) list.push(r);
    else bySeries.set(String(r.series), [r]);
  }
  const out: Row[] = [];
  for (const [name, list] of bySeries) {
    const gaps = list.slice(1).map((r, i) => r.step - list[i]!.step).sort((a, b) => a - b);
    const usual = gaps.length ? gaps[Math.floor(gaps.length / 2)]! : 1;
    let segment = 0;
    list.forEach((r, i) => {
      if (i > 0 && r.step - list[i - 1]!.step > Math.max(3 * usual, usual + 5)) segment++;
      out.push({ ...r, segment: `${name}#${segment}` });
    });
  }
  return out;
}

/** Lines of `rows` (a band where downsampled), coloured by `series`, named in the legend. */
function lines(input: Row[], frame: Frame, yTitle: string, opts: { scale?: Record<string, unknown>; colors?: Record<string, string>; opacity?: number; points?: boolean; dash?: boolean } = {}): Record<string, unknown>[] {
  const rows = segmented(input);
  const names = [...new Set(rows.map((r) => String(r.series)))];
  const color = { field: "series", type: "nominal", title: null, legend: { labelLimit: 320 }, ...(opts.colors ? { scale: { domain: names, range: names.map((n) => opts.colors![n] ?? "#4c78a8") } } : {}) };
  const y = { field: "value", type: "quantitative", title: yTitle, scale: opts.scale?.type === "log" ? opts.scale : { zero: false, ...opts.scale } };
  const layers: Record<string, unknown>[] = [];
  if (rows.some((r) => r.lo !== undefined && r.lo !== r.hi)) {
    layers.push({ data: { values: rows }, mark: { type: "area", opacity: 0.2 }, encoding: { x: xOf(frame), y: { ...y, field: "lo" }, y2: { field: "hi" }, color: { ...color, legend: null }, detail: { field: "segment" } } });
  }
  layers.push({
    data: { values: rows },
    mark: { type: "line", strokeWidth: 1.5, ...(opts.opacity ? { opacity: opts.opacity } : {}), ...(opts.points ? { point: { filled: true, size: 30 } } : {}) },
    encoding: { x: xOf(frame), y, color, detail: { field: "segment" }, ...(opts.dash ? { strokeDash: { field: "series", type: "nominal", legend: null } } : {}) },
  });
  return layers;
}

/** Measurements as points (no line through the gaps), named in the legend. */
function points(rows: Row[], frame: Frame, yTitle: string, colors?: Record<string, string>): Record<string, unknown> {
  const names = [...new Set(rows.map((r) => String(r.series)))];
  return {
    data: { values: rows },
    mark: { type: "point", filled: true, size: 45 },
    encoding: {
      x: xOf(frame),
      y: { field: "value", type: "quantitative", title: yTitle, scale: { zero: false } },
      color: { field: "series", type: "nominal", title: null, legend: { labelLimit: 320 }, ...(colors ? { scale: { domain: names, range: names.map((n) => colors[n] ?? "#000") } } : {}) },
      description: { field: "series" },
    },
  };
}

/** Per-step rows of one metric (skipping steps where it is absent or not finite). */
function series(run: RunRecord, key: string, name = key): Row[] {
  return run.metrics.filter((m) => typeof m[key] === "number" && Number.isFinite(m[key] as number)).map((m) => ({ step: m.step, value: m[key] as number, series: name }));
}

function append(map: Map<string, Row[]>, key: string, row: Row): void {
  const list = map.get(key);
  if (list) list.push(row);
  else map.set(key, [row]);
}

/** Whether a series is measured in fewer than half the steps of the run (evals, drift, a rare source). */
function sparse(rows: Row[], frame: Frame): boolean {
  return rows.length < 0.5 * Math.max(1, frame.hi - frame.lo);
}

function layered(title: string, layers: Record<string, unknown>[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return base(title, { layer: layers, resolve: { scale: { color: "independent", strokeDash: "independent" } }, ...extra });
}

/** Every plot of one run's report (plots without data are left out). */
export function runPlots(run: RunRecord): Plot[] {
  const plots: Plot[] = [];
  const frame = frameOf(run);
  const markers = markerLayers(run.decisions, frame);
  const loss = series(run, "loss", "train loss");
  const smoothed = ema(loss).map((r) => ({ ...r, series: `train loss (EMA ${EMA})` }));
  const heldout = series(run, "heldoutLoss", "held-out loss (eval)");
  plots.push({
    id: "loss",
    title: "Loss (nats/token), with the guardrails' decisions",
    spec: layered("Loss", [
      ...lines([...downsample(loss), ...downsample(smoothed)], frame, "nats/token", { colors: { "train loss": "#9ecae9", [`train loss (EMA ${EMA})`]: "#1f5f9e" } }),
      ...(heldout.length ? [points(heldout, frame, "nats/token", { "held-out loss (eval)": "#000000" })] : []),
      ...markers,
    ]),
  });

  // Per source: the mean of the last 10 steps the source appeared in; a source seen in few steps as points.
  const bySource = new Map<string, Row[]>();
  for (const m of run.metrics) for (const [source, v] of Object.entries(m.sourceLoss ?? {})) if (Number.isFinite(v)) append(bySource, source, { step: m.step, value: v, series: source });
  if (bySource.size) {
    const dense: Row[] = [];
    const rare: Row[] = [];
    for (const rows of bySource.values()) {
      if (sparse(rows, frame)) for (const r of downsample(rows)) rare.push(r);
      else {
        let sum = 0;
        const smoothed = rows.map((r, i) => {
          sum += r.value - (i >= 10 ? rows[i - 10]!.value : 0);
          return { ...r, value: sum / Math.min(10, i + 1) };
        });
        for (const r of downsample(smoothed)) dense.push(r);
      }
    }
    plots.push({
      id: "loss-by-source",
      title: "Loss by source (lines: mean of the last 10 steps the source appeared in; points: sources in fewer than half the steps, each step it appeared)",
      // Lines and points share one colour scale (one legend); the decision markers keep theirs.
      spec: layered("Loss by source", [{ layer: [...(dense.length ? lines(dense, frame, "nats/token") : []), ...(rare.length ? [points(rare, frame, "nats/token")] : [])] }, ...markers]),
    });
  }
  const lr = series(run, "lr", "learning rate").filter((r) => r.value > 0);
  if (lr.length) plots.push({ id: "lr", title: "Learning rate (log scale)", spec: layered("Learning rate", [...lines(downsample(lr), frame, "LR", { scale: { type: "log" }, colors: { "learning rate": "#4c78a8" } }), ...markers]) });
  const norms = [...downsample(series(run, "gradNorm", "gradient norm").filter((r) => r.value > 0)), ...downsample(series(run, "updateNorm", "update norm").filter((r) => r.value > 0))];
  plots.push({ id: "norms", title: "Gradient and update norm (log scale)", spec: layered("Gradient and update norm", [...lines(norms, frame, "norm", { scale: { type: "log" } }), ...markers]) });

  const bpb = [...series(run, "heldoutBpb", "held-out bpb (eval)"), ...series(run, "driftBpb", "held-out general bpb (drift)"), ...series(run, "driftBaseBpb", "base model (drift)")];
  if (bpb.length) {
    plots.push({
      id: "heldout",
      title: "Held-out bits per byte against the base (at the step each measured)",
      spec: layered("Held-out bits per byte", [...lines(bpb, frame, "bits/byte", { points: true }), ...markers]),
    });
  }
  const kl = series(run, "driftKl", "KL(base || model)");
  if (kl.length) plots.push({ id: "kl", title: "KL(base || model) on held-out general text (nats/token)", spec: layered("KL to the base", [...(kl.length > 2 ? lines(kl, frame, "nats/token", { points: true, colors: { "KL(base || model)": "#e45756" } }) : [points(kl, frame, "nats/token", { "KL(base || model)": "#e45756" })]), ...markers]) });

  const weights = run.metrics.flatMap((m) => Object.entries(m.mixtureWeights ?? {}).map(([group, w]) => ({ step: m.step, group, weight: w })));
  if (weights.length) {
    const every = Math.ceil(run.metrics.length / MAX_POINTS);
    plots.push({
      id: "mixture",
      title: "Mixture weights over time",
      spec: base("Mixture weights", {
        data: { values: every > 1 ? weights.filter((w) => w.step % every === 0) : weights },
        mark: { type: "area" },
        encoding: { x: xOf(frame), y: { field: "weight", type: "quantitative", stack: "normalize", title: "share" }, color: { field: "group", type: "nominal" } },
      }),
    });
  }
  const termRows = new Map<string, Row[]>();
  for (const m of run.metrics) for (const [term, v] of Object.entries(m.terms ?? {})) if (Number.isFinite(v)) append(termRows, term, { step: m.step, value: v, series: term });
  if (termRows.size) plots.push({ id: "terms", title: "Auxiliary loss terms (weighted)", spec: layered("Auxiliary loss terms", [...lines([...termRows.values()].flatMap((r) => downsample(r)), frame, "loss"), ...markers]) });
  const trainable = series(run, "trainableParams", "trainable parameters");
  if (new Set(trainable.map((r) => r.value)).size > 1) plots.push({ id: "trainable", title: "Trainable parameters (progressive unfreezing)", spec: layered("Trainable parameters", [{ ...lines(downsample(trainable), frame, "parameters")[0], mark: { type: "line", interpolate: "step-after" } }, ...markers]) });

  // A panel per plugin that logs numbers of its own (`irl.reward`, `custom.score`, ...).
  const groups = new Map<string, Set<string>>();
  for (const m of run.metrics) {
    for (const [k, v] of Object.entries(m)) {
      if (KNOWN.has(k) || typeof v !== "number" || k.startsWith("probe.")) continue;
      const prefix = k.includes(".") ? k.slice(0, k.indexOf(".")) : k;
      groups.set(prefix, (groups.get(prefix) ?? new Set()).add(k));
    }
  }
  for (const [prefix, keys] of groups) {
    const rows = [...keys].map((k) => series(run, k));
    const layers = rows.flatMap((r) => (sparse(r, frame) && r.length <= 2 ? [points(r, frame, "value")] : lines(downsample(r), frame, "value", { points: sparse(r, frame) })));
    plots.push({ id: `plugin-${prefix}`, title: `Plugin metrics: ${prefix}`, spec: layered(`Plugin metrics: ${prefix}`, [...layers, ...markers]) });
  }

  const grid = latestNeedleGrid(run.probes);
  if (grid) plots.push({ id: "needle", title: `Needle-in-a-haystack accuracy (measured at step ${grid.step})`, spec: needleSpec(grid.cells) });
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
  const rank = (r: number) => (Number.isFinite(r) ? `, mean rank ${r.toFixed(1)}` : "");
  const values = cells.map((c) => ({ ...c, depthPct: `${Math.round(c.depth * 100)}%`, label: `${Math.round(c.accuracy * 100)}%`, hover: `length ${c.length}, depth ${Math.round(c.depth * 100)}%: accuracy ${Math.round(c.accuracy * 100)}%${rank(c.meanRank)}` }));
  return base("Needle-in-a-haystack", {
    width: 80 * new Set(cells.map((c) => c.length)).size + 120,
    height: 36 * new Set(cells.map((c) => c.depth)).size,
    data: { values },
    encoding: { x: { field: "length", type: "ordinal", title: "context length (tokens)", axis: { labelAngle: 0 } }, y: { field: "depthPct", type: "ordinal", title: "needle depth", sort: null } },
    layer: [
      { mark: "rect", encoding: { color: { field: "accuracy", type: "quantitative", scale: { domain: [0, 1], scheme: "redyellowgreen" }, title: "accuracy" }, description: { field: "hover" } } },
      // White on the dark ends of the scale (deep red, deep green), black on the light middle.
      { mark: { type: "text", fontSize: 12 }, encoding: { text: { field: "label" }, color: { condition: { test: "datum.accuracy < 0.25 || datum.accuracy > 0.8", value: "white" }, value: "black" }, description: { field: "hover" } } },
    ],
  });
}

/** Overlaid plots for several runs: each run a colour and a dash, decisions in the run report's colours. */
export function comparePlots(runs: RunRecord[]): Plot[] {
  const frame = { lo: Math.min(...runs.map((r) => frameOf(r).lo)), hi: Math.max(...runs.map((r) => frameOf(r).hi)) };
  const names = runs.map((r) => r.name);
  /** Each run's series of `key` (only positive values for a log scale), optionally smoothed, downsampled. */
  const tagged = (key: string, o: { smooth?: boolean; positive?: boolean } = {}) =>
    runs.flatMap((r) => {
      const rows = series(r, key, r.name).filter((x) => !o.positive || x.value > 0);
      return downsample(o.smooth ? ema(rows) : rows);
    });
  const dashes = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3]];
  const overlay = (rows: Row[], title: string, yTitle: string, scale: Record<string, unknown> = {}, withPoints = false) =>
    base(title, {
      data: { values: rows },
      mark: { type: "line", strokeWidth: 1.8, ...(withPoints ? { point: { filled: true, size: 40 } } : {}) },
      encoding: {
        x: xOf(frame),
        y: { field: "value", type: "quantitative", title: yTitle, scale: scale.type === "log" ? scale : { zero: false, ...scale } },
        color: { field: "series", type: "nominal", title: "run", scale: { domain: names }, legend: { labelLimit: 400, symbolStrokeWidth: 2.5 } },
        strokeDash: { field: "series", type: "nominal", title: "run", scale: { domain: names, range: names.map((_, i) => dashes[i % dashes.length]) }, legend: { labelLimit: 400 } },
      },
    });
  const plots: Plot[] = [
    { id: "loss", title: `Training loss (EMA ${EMA})`, spec: overlay(tagged("loss", { smooth: true }), "Training loss", "nats/token") },
    { id: "lr", title: "Learning rate (log scale)", spec: overlay(tagged("lr", { positive: true }), "Learning rate", "LR", { type: "log" }) },
    { id: "norms", title: `Gradient norm (EMA ${EMA}, log scale)`, spec: overlay(tagged("gradNorm", { smooth: true, positive: true }), "Gradient norm", "norm", { type: "log" }) },
  ];
  const heldout = tagged("heldoutBpb");
  if (heldout.length) plots.push({ id: "heldout", title: "Held-out bits per byte (eval)", spec: overlay(heldout, "Held-out bits per byte", "bits/byte", {}, true) });
  const drift = tagged("driftBpb");
  if (drift.length) plots.push({ id: "drift", title: "Held-out general bits per byte (drift, at the step measured)", spec: overlay(drift, "Drift: held-out general bits per byte", "bits/byte", {}, true) });
  const markers = runs.flatMap((r) => markerData(r.decisions).map((m) => ({ ...m, run: r.name })));
  if (markers.length) {
    const actions = [...new Set(markers.map((m) => (m as Record<string, unknown>).action as string))];
    plots.push({
      id: "decisions",
      title: "Guardrail decisions by run",
      spec: base("Decisions", {
        height: 40 * runs.length,
        data: { values: markers },
        mark: { type: "point", filled: true, size: 90, shape: "triangle-down", opacity: 1 },
        encoding: { x: xOf(frame), y: { field: "run", type: "nominal", scale: { domain: names } }, yOffset: { field: "slot", type: "ordinal" }, color: markerColor(actions), description: { field: "label" } },
      }),
    });
  }
  return plots;
}

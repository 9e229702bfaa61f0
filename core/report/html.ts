/**
 * Self-contained HTML reports: inline CSS and inline SVG plots, no scripts and no network at view time.
 * One run (`runReport`) or several overlaid (`compareReport`).
 */
import type { Plot } from "./charts.js";
import { comparePlots, runPlots } from "./charts.js";
import type { ProbeRecord, RunRecord } from "./loadRun.js";
import { renderSvg } from "./render.js";

export interface RenderedPlot extends Plot {
  svg: string;
}

export interface Report {
  html: string;
  plots: RenderedPlot[];
}

export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/**
 * Markup built by this module from trusted templates. Everything else that reaches the page (reasons,
 * plugin names, evidence, source names, config values: anything a run wrote) is text and is escaped.
 */
export class Html {
  constructor(readonly markup: string) {}
  toString(): string {
    return this.markup;
  }
}

/** A tagged template: the literal parts are markup, every interpolated value is escaped unless it is Html. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += (Array.isArray(v) ? v.map(toMarkup).join("") : toMarkup(v)) + strings[i + 1]!;
  });
  return new Html(out);
}

function toMarkup(v: unknown): string {
  return v instanceof Html ? v.markup : escapeHtml(v);
}

/** The report has no scripts and fetches nothing: the policy forbids both, so injected markup could not run. */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const fmt = (x: unknown, digits = 4): string => (typeof x === "number" ? (Number.isInteger(x) ? x.toLocaleString("en-US") : Math.abs(x) >= 1e5 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toFixed(digits)) : x === undefined || x === null ? "-" : String(x));

const CSS = `
body { font: 14px/1.45 Helvetica, Arial, sans-serif; color: #222; max-width: 1100px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #666; } .status { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 12px; vertical-align: middle; }
.completed { background: #2ca02c; } .halted { background: #d62728; } .interrupted, .failed { background: #ff7f0e; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure.plot { margin: 18px 0; } figcaption { font-weight: bold; margin-bottom: 4px; }
pre { background: #f7f7f7; padding: 10px; overflow: auto; font-size: 12px; max-height: 420px; }
`;

/** A table; a cell is text (escaped) unless it is Html. A null head leaves the header row out. */
function table(head: string[] | null, rows: unknown[][], numeric: boolean[] = []): Html {
  const cell = (c: unknown, i: number) => (numeric[i] ? html`<td class="num">${c instanceof Html ? c : fmt(c)}</td>` : html`<td>${c instanceof Html ? c : fmt(c)}</td>`);
  const thead = head ? html`<thead><tr>${head.map((h) => html`<th>${h}</th>`)}</tr></thead>` : new Html("");
  return html`<table>${thead}<tbody>${rows.map((r) => html`<tr>${r.map(cell)}</tr>`)}</tbody></table>`;
}

function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${new Html(CONTENT_SECURITY_POLICY)}"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title><style>${new Html(CSS)}</style></head><body>${body}</body></html>
`.markup;
}

/** The plots; their SVG comes from vega's renderer, which escapes every text and attribute it writes. */
function figures(plots: RenderedPlot[]): Html {
  return html`${plots.map((p) => html`<figure class="plot" id="plot-${p.id}" data-plot="${p.id}"><figcaption>${p.title}</figcaption>${new Html(p.svg)}</figure>`)}`;
}

async function render(plots: Plot[]): Promise<RenderedPlot[]> {
  const out: RenderedPlot[] = [];
  for (const p of plots) out.push({ ...p, svg: await renderSvg(p.spec) });
  return out;
}

/** Compute of this run (tokens, FLOPs) and its share of the starting checkpoint's pre-training. */
export function computeOf(run: RunRecord): { tokens: number; flops: number; baseTokens: number; baseFlops: number; share: number | undefined } | undefined {
  const s = run.summary;
  if (!s) return undefined;
  const baseTokens = s.base?.tokens ?? 0;
  const baseFlops = s.base?.flops ?? 0;
  const flops = s.flops - baseFlops;
  return { tokens: s.tokens - baseTokens, flops, baseTokens, baseFlops, share: baseFlops > 0 ? flops / baseFlops : undefined };
}

function summaryTable(run: RunRecord): Html {
  const s = run.summary;
  const c = computeOf(run);
  const last = run.metrics.at(-1);
  const rows: unknown[][] = [];
  if (s) {
    rows.push(["status", html`<span class="status ${s.status}">${s.status}</span> (exit ${s.exitCode})`]);
    rows.push(["steps", `${s.startStep + 1}..${s.endStep}`], ["started from", s.from ?? "random init"], ["backend", s.backend]);
    rows.push(["loss (first -> last step)", `${fmt(s.firstLoss)} -> ${fmt(s.lastLoss)}`]);
    if (s.heldout) rows.push(["held-out (last eval)", `${fmt(s.heldout.loss)} nats/token, ${fmt(s.heldout.bpb)} bits/byte`]);
    if (s.trainableParams !== undefined) rows.push(["trainable parameters", s.trainableParams]);
    rows.push(["wall time", `${fmt(s.wallTimeSec, 1)} s, ${fmt(s.tokensPerSec, 0)} tokens/s`]);
    if (s.halt) rows.push(["halted by", `${s.halt.plugin}: ${s.halt.reason}`]);
    if (s.error) rows.push(["error", s.error]);
  } else if (last) {
    rows.push(["status", "running or stopped without a summary"], ["last step", last.step]);
  }
  if (c) {
    rows.push(["compute of this run", `${fmt(c.tokens)} tokens, ${fmt(c.flops)} FLOPs`]);
    rows.push(["share of the base's pre-training compute", c.share === undefined ? "- (random init)" : `${(c.share * 100).toFixed(2)}% (base: ${fmt(c.baseTokens)} tokens, ${fmt(c.baseFlops)} FLOPs; mid-training usually spends 5-15%)`]);
    const spent = s?.spent;
    if (spent && (spent.evalFlops || spent.probeFlops)) {
      const pct = (x: number | undefined) => `${(((x ?? 0) / Math.max(1, spent.flops)) * 100).toFixed(1)}%`;
      rows.push(["evaluation beside training", `held-out evaluations ${fmt(spent.evalFlops ?? 0)} FLOPs (${pct(spent.evalFlops)} of training's), probes ${fmt(spent.probeFlops ?? 0)} FLOPs (${pct(spent.probeFlops)} of training's)`]);
    }
  }
  return table(null, rows);
}

/** The last measurement of each probe (and the first, when they differ), as a table per probe. */
function probeTables(probes: ProbeRecord[], metrics: RunRecord["metrics"]): Html {
  const byProbe = new Map<string, ProbeRecord[]>();
  for (const p of probes) byProbe.set(p.probe, [...(byProbe.get(p.probe) ?? []), p]);
  if (!byProbe.size) {
    // In-training probe metrics without probes.jsonl (older runs): from metrics.jsonl.
    for (const m of metrics) {
      for (const [k, v] of Object.entries(m)) {
        const match = /^probe\.([^.]+)\.(.+)$/.exec(k);
        if (!match || typeof v !== "number") continue;
        const list = byProbe.get(match[1]!) ?? [];
        let rec = list.find((r) => r.step === m.step);
        if (!rec) list.push((rec = { step: m.step, probe: match[1]!, metrics: {} }));
        rec.metrics[match[2]!] = v;
        byProbe.set(match[1]!, list);
      }
    }
  }
  // Drift is a probe of the general held-out text against the base: its measurements, at the step they measured.
  const drift = metrics.filter((m) => typeof m.driftBpb === "number").map((m) => ({ step: m.step, probe: "drift", metrics: Object.fromEntries(["driftBpb", "driftBaseBpb", "driftDelta", "driftKl"].filter((k) => typeof m[k] === "number").map((k) => [k, m[k] as number])) }));
  if (drift.length) byProbe.set("drift", drift);
  if (!byProbe.size) return html`<p>No probes ran during this run (add the <code>probes</code>, <code>longctx</code> or <code>drift</code> plugins).</p>`;
  return html`${[...byProbe].map(([probe, recs]) => {
      const first = recs[0]!;
      const last = recs.at(-1)!;
      const keys = Object.keys(last.metrics);
      const head = recs.length > 1 ? ["metric", `step ${first.step}`, `step ${last.step}`, "change"] : ["metric", `step ${last.step}`];
      const rows = keys.map((k) => (recs.length > 1 ? [k, first.metrics[k], last.metrics[k], typeof first.metrics[k] === "number" ? last.metrics[k]! - first.metrics[k]! : undefined] : [k, last.metrics[k]]));
      return html`<h3>${probe} <span class="sub">(${recs.length} measurement${recs.length > 1 ? "s" : ""})</span></h3>${table(head, rows, head.map((_, i) => i > 0))}`;
  })}`;
}

function decisionsTable(run: RunRecord): Html {
  if (!run.decisions.length) return html`<p>No decisions: no guardrail acted or warned.</p>`;
  return table(
    ["step", "action", "plugin", "reason", "outcome"],
    run.decisions.map((d) => [d.step, d.action, d.plugin, d.reason, d.outcome ?? ""]),
    [true],
  );
}

function mixtureTable(run: RunRecord): Html {
  const groups = (run.mixture as { groups?: Record<string, { scheduled?: number; realised?: number; sequences?: number }> } | undefined)?.groups;
  if (!groups || typeof groups !== "object") return new Html("");
  const rows = Object.entries(groups).map(([g, v]) => [g, v.scheduled, v.realised, v.sequences]);
  return html`<h2>Mixture audit</h2>${table(["group", "scheduled share", "realised share", "sequences"], rows, [false, true, true, true])}`;
}

export async function runReport(run: RunRecord): Promise<Report> {
  const plots = await render(runPlots(run));
  const body = html`<h1>mtx run: ${run.name}</h1><div class="sub">${run.dir}</div>
<h2>Summary</h2>${summaryTable(run)}
<h2>Curves</h2>${figures(plots.filter((p) => p.id !== "needle"))}
<h2>Probes</h2>${probeTables(run.probes, run.metrics)}${figures(plots.filter((p) => p.id === "needle"))}
<h2>Decisions</h2>${decisionsTable(run)}
${mixtureTable(run)}
<h2>Effective config</h2><pre>${JSON.stringify(run.config ?? {}, null, 2)}</pre>`;
  return { html: page(`mtx run ${run.name}`, body), plots };
}

/** Final numbers of each run, side by side. */
export function finalMetrics(runs: RunRecord[]): { metric: string; values: (number | string | undefined)[] }[] {
  const lastOf = (r: RunRecord, key: string) => [...r.metrics].reverse().find((m) => typeof m[key] === "number")?.[key] as number | undefined;
  const rows: { metric: string; values: (number | string | undefined)[] }[] = [
    { metric: "status", values: runs.map((r) => r.summary?.status) },
    { metric: "steps", values: runs.map((r) => r.summary?.endStep ?? r.metrics.at(-1)?.step) },
    { metric: "final loss", values: runs.map((r) => lastOf(r, "loss")) },
    { metric: "held-out loss", values: runs.map((r) => lastOf(r, "heldoutLoss")) },
    { metric: "held-out bits/byte", values: runs.map((r) => lastOf(r, "heldoutBpb")) },
    { metric: "drift: held-out general bits/byte", values: runs.map((r) => lastOf(r, "driftBpb")) },
    { metric: "drift: change vs base", values: runs.map((r) => lastOf(r, "driftDelta")) },
    { metric: "KL to the base", values: runs.map((r) => lastOf(r, "driftKl")) },
    { metric: "decisions", values: runs.map((r) => r.decisions.length) },
    { metric: "tokens/s", values: runs.map((r) => (r.summary ? Math.round(r.summary.tokensPerSec) : undefined)) },
    { metric: "share of base compute", values: runs.map((r) => { const share = computeOf(r)?.share; return share === undefined ? undefined : `${(share * 100).toFixed(2)}%`; }) },
  ];
  return rows.filter((r) => r.values.some((v) => v !== undefined));
}

export async function compareReport(runs: RunRecord[]): Promise<Report> {
  const plots = await render(comparePlots(runs));
  const rows = finalMetrics(runs).map((r) => [r.metric, ...r.values]);
  const body = html`<h1>mtx compare: ${runs.map((r) => r.name).join(" vs ")}</h1>
<div class="sub">${runs.map((r, i) => html`${i ? html`<br>` : ""}${r.dir}`)}</div>
<h2>Final metrics</h2>${table(["metric", ...runs.map((r) => r.name)], rows, [false, ...runs.map(() => true)])}
<h2>Curves</h2>${figures(plots)}`;
  return { html: page(`mtx compare ${runs.map((r) => r.name).join(" vs ")}`, body), plots };
}

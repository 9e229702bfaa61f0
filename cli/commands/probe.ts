/**
 * `mtx probe`: run a probe suite on a checkpoint (and a baseline) in worker threads and print a table;
 * `mtx gate` (cli/commands/gate.ts) turns the same report into an exit code for CI.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import cliProgress from "cli-progress";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { ExitCodes } from "../../core/errors.js";
import { PROBE_WORKER } from "../../core/paths.js";
import { isEndpointSource, resolveProbeTarget } from "../../core/interop/modelSource.js";
import { PiscinaProbePool } from "../../core/pool/PiscinaProbePool.js";
import { toJUnit } from "../../core/suite/junit.js";
import { runSuite, type ProbeReport, type SuiteReport } from "../../core/suite/runSuite.js";
import { loadSuite } from "../../core/suite/suite.js";
import { resolveProbe } from "../../probes/resolve.js";
import { dim, runCommand } from "../output.js";

export interface ProbeArgs {
  suite: string;
  checkpoint: string;
  baseline?: string;
  /** The tokenizer of an openai: endpoint that does not publish its own. */
  tokenizer?: string;
  workers: number;
  /** Print the report as JSON on stdout instead of the table. */
  json?: boolean;
  /** Write the report as JSON to this file. */
  jsonOut?: string;
  junit?: string;
}

/** Per-probe progress: a bar on a TTY, a dim line per finished probe otherwise. */
export function probeProgress(total: number): { onProbe: (r: ProbeReport) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { onProbe: (p) => process.stderr.write(dim(`${p.id}: ${(p.ms / 1000).toFixed(1)} s${p.error ? ` (error: ${p.error})` : ""}\n`)), stop: () => {} };
  const bar = new cliProgress.SingleBar({ format: "probes |{bar}| {value}/{total} | last: {last}", hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { last: "-" });
  return { onProbe: (p) => bar.increment(1, { last: `${p.id} ${(p.ms / 1000).toFixed(1)} s${p.error ? " (error)" : ""}` }), stop: () => bar.stop() };
}

export async function run(a: ProbeArgs, onProbe?: (r: ProbeReport) => void): Promise<SuiteReport> {
  const suite = await loadSuite(a.suite, resolveProbe);
  const target = resolveProbeTarget(a.checkpoint, { tokenizer: a.tokenizer });
  const baseline = a.baseline ? resolveProbeTarget(a.baseline, { tokenizer: isEndpointSource(a.baseline) ? a.tokenizer : undefined }) : undefined;
  const pool = new PiscinaProbePool(PROBE_WORKER, { threads: a.workers });
  const progress = onProbe ? undefined : probeProgress(suite.probes.length);
  try {
    const report = await runSuite(suite, pool, target, baseline, onProbe ?? progress!.onProbe);
    const write = (file: string, text: string) => {
      mkdirSync(dirname(resolve(file)), { recursive: true });
      writeFileSync(resolve(file), text);
    };
    if (a.jsonOut) write(a.jsonOut, JSON.stringify(report, null, 2) + "\n");
    if (a.junit) write(a.junit, toJUnit(report));
    return report;
  } finally {
    progress?.stop();
    await pool.close();
  }
}

/** 0 when every gate passed, 1 when a gate failed, 4 when probes crashed and nothing else failed. */
export function exitCodeOf(report: SuiteReport): number {
  if (report.pass) return ExitCodes.ok;
  const crashed = report.probes.some((p) => p.status === "error");
  const gateFailed = report.probes.some((p) => p.status !== "error" && p.gates.some((g) => !g.pass));
  return crashed && !gateFailed ? ExitCodes.internal : ExitCodes.checkFailed;
}

const num = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? "-" : Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(4));
/** A value with its standard error: 2.0431 ± 0.0123. */
const withSe = (x: number | null | undefined, se: number | null | undefined) => (se === null || se === undefined || x === null || x === undefined ? num(x) : `${num(x)} ± ${num(se)}`);
const GATE_WORD: Record<string, string> = { pass: "ok", fail: "FAIL", "not-applied": "not applied", "not-supported": "FAIL not supported" };

interface GridCell {
  length: number;
  depth: number;
  accuracy: number;
  meanRank: number;
}

/** A needle grid: rows are context lengths, columns depths; each cell "accuracy (mean rank)". */
export function formatGrid(id: string, grid: GridCell[]): string {
  const lengths = [...new Set(grid.map((c) => c.length))];
  const depths = [...new Set(grid.map((c) => c.depth))];
  const cell = (l: number, d: number) => {
    const c = grid.find((x) => x.length === l && x.depth === d)!;
    return Number.isFinite(c.meanRank) ? `${(c.accuracy * 100).toFixed(0)}% (r${c.meanRank.toFixed(0)})` : `${(c.accuracy * 100).toFixed(0)}%`;
  };
  const rows = [["length \\ depth", ...depths.map((d) => d.toFixed(2))], ...lengths.map((l) => [String(l), ...depths.map((d) => cell(l, d))])];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return [``, `${id}: exact match (mean rank of the value's first token)`, ...rows.map((r) => r.map((c, i) => c.padStart(w[i]!)).join("  "))].join("\n");
}

/** The report as a table: probe, metric, value, baseline, change, gate. */
export function formatReport(r: SuiteReport): string {
  const rows: string[][] = [["probe", "metric", "value", "baseline", "change", "gate"]];
  for (const p of r.probes) {
    if (p.status === "not-supported") {
      rows.push([p.id, "(not supported by this model source)", "-", "-", "-", p.gates.length ? "FAIL not supported" : ""]);
      continue;
    }
    if (p.error) {
      rows.push([p.id, "(error)", "-", "-", "-", `FAIL ${p.error}`]);
      continue;
    }
    for (const [metric, value] of Object.entries(p.metrics)) {
      const base = p.baseline?.[metric];
      const gates = p.gates.filter((g) => g.metric === metric);
      const change = base !== undefined && base !== 0 ? `${value >= base ? "+" : ""}${((value / base - 1) * 100).toFixed(1)}%` : "-";
      rows.push([p.id, metric, withSe(value, p.stderr[metric]), withSe(base, p.baselineStderr?.[metric]), change, gates.map((g) => `${GATE_WORD[g.status]} ${g.rule}`).join("; ")]);
    }
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join("  ").trimEnd());
  const grids = r.probes.filter((p) => (p.details as { grid?: unknown } | undefined)?.grid).map((p) => formatGrid(p.id, (p.details as { grid: GridCell[] }).grid));
  lines.push(...grids);
  const failed = r.probes.flatMap((p) => p.gates.filter((g) => !g.pass).map((g) => `${p.id}: ${g.message}`));
  const notApplied = r.probes.flatMap((p) => p.gates.filter((g) => g.status === "not-applied").map((g) => `${p.id}: ${g.metric}`));
  if (notApplied.length) lines.push("", `not applied (no baseline): ${notApplied.join(", ")}`);
  return [`suite '${r.suite}' on ${r.checkpoint}${r.baseline ? ` vs ${r.baseline}` : ""} (${(r.ms / 1000).toFixed(1)} s)`, "", ...lines, "", failed.length ? `FAILED gates:\n  ${failed.join("\n  ")}` : "all gates passed"].join("\n") + "\n";
}

export function builder(y: Argv): Argv<ProbeArgs> {
  return y
    .option("suite", { type: "string", default: "smoke", describe: "Bundled suite (smoke, ci, longctx, reasoning, agentic, full) or a suite file" })
    .option("checkpoint", { type: "string", demandOption: true, describe: "The model: a checkpoint directory, 'bundled', hf:DIR (Hugging Face Llama), or openai:URL (an OpenAI-compatible /v1 endpoint)" })
    .option("baseline", { type: "string", describe: "Baseline model (same forms) for relative gates and deltas" })
    .option("tokenizer", { type: "string", describe: "openai: endpoints that do not publish their tokenizer: a tokenizer.json, a directory with one, or a model source" })
    .option("workers", { type: "number", default: 2, describe: "Worker threads" })
    .option("json", { type: "boolean", default: false, describe: "Print the full report as JSON on stdout instead of the table" })
    .option("json-out", { type: "string", describe: "Also write the full report as JSON to this file" })
    .option("junit", { type: "string", describe: "Write JUnit XML (one testcase per gate)" }) as Argv<ProbeArgs>;
}

export const command: CommandModule<object, ProbeArgs> = {
  command: "probe",
  describe: "Run a probe suite on a checkpoint (optionally against a baseline) and print the results",
  builder,
  handler: (argv: ArgumentsCamelCase<ProbeArgs>) =>
    runCommand(async () => {
      const report = await run(argv);
      process.stdout.write(argv.json ? JSON.stringify(report) + "\n" : formatReport(report));
      return exitCodeOf(report);
    }),
};

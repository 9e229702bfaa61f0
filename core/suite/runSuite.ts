/**
 * Runs a probe suite on a model (and a baseline) in a worker pool and evaluates its gates. Models are
 * checkpoint directories (verified here first, so an unreadable one is a clear error, exit 2, not a worker
 * crash) or OpenAI-compatible endpoints (reached here first, for the same reason). A probe the model source
 * cannot run is reported as not supported, and a gate on it fails.
 */
import { resolve } from "node:path";
import { readCheckpointModel, verifyCheckpoint } from "../checkpoint/Checkpoint.js";
import { checkWasmHolds } from "../model/memory.js";
import type { ProbeTarget } from "../engine/Engine.js";
import { OpenAiModel } from "../engine/openai/OpenAiModel.js";
import { NOT_SUPPORTED } from "../errors.js";
import type { ProbePool } from "../pool/ProbePool.js";
import { evaluateGate, notSupportedGate, type GateResult } from "./gates.js";
import type { Suite } from "./suite.js";

interface ProbeValue {
  metrics: Record<string, number>;
  stderr?: Record<string, number>;
  counts?: Record<string, number>;
  n: number;
  details?: unknown;
}

export type ProbeStatus = "ok" | "error" | "not-supported";

export interface ProbeReport {
  id: string;
  probe: string;
  status: ProbeStatus;
  metrics: Record<string, number>;
  /** Standard error of each metric that averages over items. */
  stderr: Record<string, number>;
  baseline?: Record<string, number>;
  baselineStderr?: Record<string, number>;
  n: number;
  details?: unknown;
  gates: GateResult[];
  error?: string;
  ms: number;
}

export interface SuiteReport {
  suite: string;
  checkpoint: string;
  baseline?: string;
  pass: boolean;
  probes: ProbeReport[];
  ms: number;
}

/** How a target is named in reports. */
export function targetLabel(t: ProbeTarget): string {
  return t.kind === "checkpoint" ? t.dir : t.kind === "endpoint" ? `openai:${t.url}${t.model ? `#${t.model}` : ""}` : "(weights in memory)";
}

async function check(t: ProbeTarget): Promise<void> {
  if (t.kind === "checkpoint") {
    // Checkpoints are probed on the TensorFlow.js engine in the workers: one past its heap is refused here.
    checkWasmHolds(readCheckpointModel(t.dir), t.dir);
    verifyCheckpoint(t.dir, { withOptimizer: false });
  }
  else if (t.kind === "endpoint") await OpenAiModel.connect(t);
}

const same = (a: ProbeTarget, b: ProbeTarget) => (a.kind === "checkpoint" && b.kind === "checkpoint" ? resolve(a.dir) === resolve(b.dir) : targetLabel(a) === targetLabel(b) && a.kind !== "weights");

export async function runSuite(suite: Suite, pool: ProbePool, target: ProbeTarget, baseline?: ProbeTarget, onProbe?: (r: ProbeReport) => void): Promise<SuiteReport> {
  const t0 = performance.now();
  await check(target);
  if (baseline) await check(baseline);
  const task = (p: Suite["probes"][number], t: ProbeTarget) => pool.run<ProbeValue>({ probe: p.ref ?? p.probe, target: t, params: p.params, seed: suite.seed }, { timeoutMs: p.timeoutMs });
  const reports = await Promise.all(
    suite.probes.map(async (p) => {
      // The same model as checkpoint and baseline is measured once.
      const once = baseline !== undefined && same(baseline, target);
      const [cand, other] = await Promise.all([task(p, target), baseline && !once ? task(p, baseline) : Promise.resolve(undefined)]);
      const base = once ? cand : other;
      const id = p.id ?? p.probe;
      let report: ProbeReport;
      if (!cand.ok || (base && !base.ok)) {
        const err = !cand.ok ? cand.error : (base as { error: Error }).error;
        const unsupported = err.message.startsWith(NOT_SUPPORTED);
        const gates = p.gates.map((g) => (unsupported ? notSupportedGate(g, err.message) : { ...notSupportedGate(g, err.message), status: "fail" as const, rule: "run" }));
        report = { id, probe: p.probe, status: unsupported ? "not-supported" : "error", metrics: {}, stderr: {}, n: 0, gates, error: err.message, ms: cand.ms };
      } else {
        const b = base?.ok ? base.value : undefined;
        report = {
          id,
          probe: p.probe,
          status: "ok",
          metrics: cand.value.metrics,
          stderr: cand.value.stderr ?? {},
          baseline: b?.metrics,
          baselineStderr: b?.stderr,
          n: cand.value.n,
          details: cand.value.details,
          gates: p.gates.map((g) => evaluateGate(g, cand.value, b)),
          ms: cand.ms,
        };
      }
      onProbe?.(report);
      return report;
    }),
  );
  // A probe the source cannot run fails the suite only through its gates; a probe that crashed fails it.
  const pass = reports.every((r) => r.status !== "error" && r.gates.every((g) => g.pass));
  return { suite: suite.name, checkpoint: targetLabel(target), baseline: baseline ? targetLabel(baseline) : undefined, pass, probes: reports, ms: performance.now() - t0 };
}

/**
 * Runs a probe suite on a checkpoint (and a baseline) in a worker pool and evaluates its gates. The
 * checkpoints are verified here first, so an unreadable one is a clear error (exit 2), not a worker crash.
 */
import { resolve } from "node:path";
import { verifyCheckpoint } from "../checkpoint/Checkpoint.js";
import type { ProbePool } from "../pool/ProbePool.js";
import { evaluateGate, type GateResult } from "./gates.js";
import type { Suite } from "./suite.js";

interface ProbeValue {
  metrics: Record<string, number>;
  n: number;
  details?: unknown;
}

export interface ProbeReport {
  id: string;
  probe: string;
  metrics: Record<string, number>;
  baseline?: Record<string, number>;
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

export async function runSuite(suite: Suite, pool: ProbePool, checkpoint: string, baseline?: string, onProbe?: (r: ProbeReport) => void): Promise<SuiteReport> {
  const t0 = performance.now();
  verifyCheckpoint(checkpoint, { withOptimizer: false });
  if (baseline) verifyCheckpoint(baseline, { withOptimizer: false });
  const task = (p: Suite["probes"][number], dir: string) => pool.run<ProbeValue>({ probe: p.probe, target: { kind: "checkpoint", dir }, params: p.params, seed: suite.seed }, { timeoutMs: p.timeoutMs });
  const reports = await Promise.all(
    suite.probes.map(async (p) => {
      // The same directory as checkpoint and baseline is measured once.
      const same = baseline !== undefined && resolve(baseline) === resolve(checkpoint);
      const [cand, other] = await Promise.all([task(p, checkpoint), baseline && !same ? task(p, baseline) : Promise.resolve(undefined)]);
      const base = same ? cand : other;
      const id = p.id ?? p.probe;
      let report: ProbeReport;
      if (!cand.ok || (base && !base.ok)) {
        const err = !cand.ok ? cand.error : (base as { error: Error }).error;
        report = { id, probe: p.probe, metrics: {}, n: 0, gates: p.gates.map((g) => ({ metric: g.metric, rule: "run", value: null, baseline: null, threshold: null, pass: false, message: err.message })), error: err.message, ms: cand.ms };
      } else {
        const baseMetrics = base?.ok ? base.value.metrics : undefined;
        report = { id, probe: p.probe, metrics: cand.value.metrics, baseline: baseMetrics, n: cand.value.n, details: cand.value.details, gates: p.gates.map((g) => evaluateGate(g, cand.value.metrics, baseMetrics, cand.value.n)), ms: cand.ms };
      }
      onProbe?.(report);
      return report;
    }),
  );
  return { suite: suite.name, checkpoint, baseline, pass: reports.every((r) => !r.error && r.gates.every((g) => g.pass)), probes: reports, ms: performance.now() - t0 };
}

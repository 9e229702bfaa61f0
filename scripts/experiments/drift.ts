/**
 * `npm run experiment:drift`: the drift guardrail on two mid-training runs from the bundled base:
 * the defaults (recipe with 20% replay, peak LR 3e-4), which should pass, and no replay at an aggressive
 * LR (recipe 'no-replay', peak LR 3e-3), which should halt with exit code 3 naming the held-out
 * bits-per-byte regression. Options: --steps N (default 250).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateConfig } from "../../core/config/loadConfig.js";
import { Trainer } from "../../core/Trainer.js";
import { DriftPlugin, driftPlugin, type DriftOptions } from "../../plugins/guardrails/drift.js";
import { validateOptions } from "../../plugins/registry.js";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const steps = Number(arg("steps", "250"));

async function run(label: string, overrides: Record<string, unknown>) {
  const out = mkdtempSync(join(tmpdir(), `mtx-exp-${label}-`));
  const config = validateConfig({ steps, out, checkpoint: { every: 50 }, eval: { every: 0, batches: 4 }, ...overrides });
  const drift = new DriftPlugin(validateOptions(driftPlugin, {}) as unknown as DriftOptions);
  process.stderr.write(`${label}: up to ${steps} steps...\n`);
  const s = await new Trainer(config, [drift], { log: { info: () => {}, warn: (m) => process.stderr.write(`  ${m}\n`) } }).train();
  const history = (drift.state() as { history: { step: number; delta: number; kl: number }[] }).history;
  return { label, status: s.status, exitCode: s.exitCode, endStep: s.endStep, halt: s.halt?.reason, deltas: history.map((h) => `${h.step}:${(h.delta * 100).toFixed(2)}%/KL ${h.kl.toFixed(3)}`) };
}

const rows = [await run("defaults", {}), await run("no-replay, LR 3e-3", { data: { recipe: "no-replay" }, schedule: { peakLr: 0.003, minLr: 0.0003 } })];
for (const r of rows) {
  console.log(`${r.label}: ${r.status} (exit ${r.exitCode}) at step ${r.endStep}; held-out general bpb vs base at each measurement: ${r.deltas.join(", ")}`);
  if (r.halt) console.log(`  halt: ${r.halt}`);
}

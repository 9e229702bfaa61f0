/**
 * `npm run experiment:spike`: an injected LR spike (default lr-spike@120:x100:5) on the default mid-training
 * run, three ways, same seed: clean (spike plugin on, no fault), the fault with the spike plugin, and the
 * fault without it. Reports the final loss of each (mean of the last 20 steps) relative to the clean run,
 * and what the guardrail did. Options: --steps N (default 250), --inject SPEC.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateConfig } from "../../core/config/loadConfig.js";
import type { StepMetrics } from "../../core/hooks.js";
import type { MtxPlugin } from "../../core/plugin.js";
import { Trainer } from "../../core/Trainer.js";
import { validateOptions } from "../../plugins/registry.js";
import { spikePlugin, SpikePlugin, type SpikeOptions } from "../../plugins/guardrails/spike.js";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const steps = Number(arg("steps", "250"));
const inject = arg("inject", "lr-spike@120:x100:5");
const spikeDefaults = () => new SpikePlugin(validateOptions(spikePlugin, {}) as unknown as SpikeOptions);

async function run(label: string, withFault: boolean, plugins: MtxPlugin[]) {
  const out = mkdtempSync(join(tmpdir(), `mtx-exp-${label}-`));
  const config = validateConfig({ steps, out, inject: withFault ? [inject] : [], checkpoint: { every: 50, keepLast: 3 }, eval: { every: 0, batches: 4 } });
  process.stderr.write(`${label}: ${steps} steps...\n`);
  const summary = await new Trainer(config, plugins, { log: { info: () => {}, warn: (m) => process.stderr.write(`  ${m}\n`) } }).train();
  const metrics = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as StepMetrics);
  const last = metrics.slice(-20);
  const final = last.reduce((a, m) => a + m.loss, 0) / last.length;
  return { label, status: summary.status, final: Number.isFinite(final) ? final : Infinity, heldout: summary.heldout, verdicts: summary.verdicts.map((v) => `${v.action}@${v.step}`) };
}

const clean = await run("clean", false, [spikeDefaults()]);
const guarded = await run("fault+spike", true, [spikeDefaults()]);
const unguarded = await run("fault only", true, []);
console.log(`fault ${inject}; final loss = mean of the last 20 steps`);
for (const r of [clean, guarded, unguarded]) {
  const rel = r.final / clean.final - 1;
  console.log(`${r.label.padEnd(12)} ${r.status.padEnd(10)} final ${r.final.toFixed(4)} (${rel >= 0 ? "+" : ""}${(rel * 100).toFixed(2)}% vs clean)  held-out ${r.heldout ? r.heldout.loss.toFixed(4) : "-"}  ${r.verdicts.join(" ")}`);
}

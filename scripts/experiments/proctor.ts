/**
 * `npm run experiment:proctor`: proctor-driven mixing (the `curriculum` plugin) against plain stratified
 * sampling, from the bundled base on the default recipe, same seed and steps. Reports each group's
 * held-out loss at the end and the worst group's, which is what proctor-driven mixing tries to improve.
 * Options: --steps N (default 150), --every N (re-weighting interval, default 25).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateConfig } from "../../core/config/loadConfig.js";
import type { EvalResult, RunDataView } from "../../core/hooks.js";
import type { MtxPlugin } from "../../core/plugin.js";
import { Trainer } from "../../core/Trainer.js";
import { CurriculumPlugin } from "../../plugins/methods/curriculum.js";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const steps = Number(arg("steps", "150"));
const every = Number(arg("every", "25"));

async function run(label: string, plugins: MtxPlugin[]) {
  const out = mkdtempSync(join(tmpdir(), `mtx-exp-${label}-`));
  const config = validateConfig({ steps, out, eval: { every: 0, batches: 4 }, checkpoint: { every: 0 } });
  let final: EvalResult | undefined;
  let data: RunDataView | undefined;
  const probe: MtxPlugin = {
    name: "experiment",
    apply: (t) => {
      t.hooks.runStart.tap("experiment", (r) => void (data = r.data));
      t.hooks.evalEnd.tap("experiment", (r) => void (final = r));
    },
  };
  process.stderr.write(`${label}: ${steps} steps...\n`);
  const summary = await new Trainer(config, [...plugins, probe], { log: { info: () => {}, warn: (m) => process.stderr.write(m + "\n") } }).train();
  const groups: Record<string, number> = {};
  for (const g of data!.groups) {
    let loss = 0;
    let tokens = 0;
    for (const s of g.sources) {
      const r = final!.perSource[s];
      if (r) {
        loss += r.loss * r.tokens;
        tokens += r.tokens;
      }
    }
    groups[g.name] = loss / tokens;
  }
  const worst = Object.entries(groups).sort((a, b) => b[1] - a[1])[0]!;
  return { label, groups, worst: { group: worst[0], loss: worst[1] }, heldoutGeneral: final!.heldoutLoss, trainLoss: summary.lastLoss, out };
}

const stratified = await run("stratified", []);
const proctor = await run("proctor", [new CurriculumPlugin({ every, proctor: "start", sampleSequences: 8, eta: 1, smoothing: 0.1, minShare: 0.02 })]);
const rows = [stratified, proctor];
const groups = Object.keys(stratified.groups);
console.log(`held-out loss per group after ${steps} steps (nats/token; lower is better)`);
console.log(["run".padEnd(11), ...groups.map((g) => g.padStart(11)), "worst".padStart(22)].join(" "));
for (const r of rows) console.log([r.label.padEnd(11), ...groups.map((g) => r.groups[g]!.toFixed(4).padStart(11)), `${r.worst.group} ${r.worst.loss.toFixed(4)}`.padStart(22)].join(" "));
console.log(`worst-group held-out loss: proctor ${proctor.worst.loss.toFixed(4)} vs stratified ${stratified.worst.loss.toFixed(4)} (${((proctor.worst.loss / stratified.worst.loss - 1) * 100).toFixed(2)}%)`);
writeFileSync(join(proctor.out, "..", "mtx-proctor-experiment.json"), JSON.stringify({ steps, every, rows }, null, 2));

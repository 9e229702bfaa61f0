/** Shared pieces of the experiment scripts: flags, runs from the bundled base, probes on checkpoints. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initBackend } from "../../core/backend.js";
import { validateConfig } from "../../core/config/loadConfig.js";
import { TfjsModel } from "../../core/engine/tfjs/TfjsModel.js";
import type { RunSummary } from "../../core/hooks.js";
import { resolveCheckpointPath } from "../../core/paths.js";
import type { MtxPlugin } from "../../core/plugin.js";
import { Trainer } from "../../core/Trainer.js";
import { PROBES } from "../../probes/index.js";
import type { ProbeResult } from "../../probes/types.js";

export const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};

export const say = (m: string) => process.stderr.write(m + "\n");

/** Train from the bundled base (unless `from` is given) and return the summary. */
export async function trainRun(label: string, overrides: Record<string, unknown>, plugins: MtxPlugin[] = []): Promise<RunSummary> {
  const out = mkdtempSync(join(tmpdir(), `mtx-exp-${label.replace(/\W+/g, "-")}-`));
  const config = validateConfig({ out, checkpoint: { every: 0 }, eval: { every: 0, batches: 4 }, ...overrides });
  say(`${label}: ${config.steps} steps -> ${out}`);
  const s = await new Trainer(config, plugins, { log: { info: () => {}, warn: (m) => say(`  ${m}`) } }).train();
  say(`${label}: ${s.status} in ${s.wallTimeSec.toFixed(0)} s, loss ${s.firstLoss?.toFixed(3)} -> ${s.lastLoss?.toFixed(3)}`);
  return s;
}

/** Run probes in this process on a checkpoint ('bundled' or a directory). */
export async function probe(checkpoint: string, runs: { probe: string; params: Record<string, unknown> }[], seed = 1234): Promise<ProbeResult[]> {
  await initBackend("auto");
  const model = TfjsModel.fromCheckpoint(resolveCheckpointPath(checkpoint));
  try {
    const out: ProbeResult[] = [];
    for (const r of runs) out.push(await PROBES[r.probe]!.run({ model, tokenizer: model.tokenizer, seed, load: async () => model }, r.params));
    return out;
  } finally {
    await model.dispose();
  }
}

export const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

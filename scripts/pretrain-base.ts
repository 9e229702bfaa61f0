/**
 * Pretrains the bundled base model, deterministically, on general English (the 'general' recipe: State of
 * the Union and Brown, with whole held-out documents never trained on), and writes it to fixtures/base:
 * tokenizer.json, model.safetensors, optimizer.safetensors (moments in BF16 to keep the fixture small),
 * state.json and manifest.json. Usage: npm run fixtures:base [-- --steps N --out DIR]
 */
import { cpSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadCheckpoint, saveCheckpoint, stepDirName } from "../core/checkpoint/Checkpoint.js";
import { validateConfig } from "../core/config/loadConfig.js";
import { prepareMixture } from "../core/data/pipeline.js";
import { trainBpe } from "../core/data/tokenizer/trainBpe.js";
import { BUNDLED_BASE } from "../core/paths.js";
import { Trainer } from "../core/Trainer.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const steps = Number(arg("steps", "1600"));
const target = resolve(arg("out", BUNDLED_BASE));
const work = resolve(arg("work", "runs/base-pretrain"));
const vocab = Number(arg("vocab", "2048"));
const recipe = "general";

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const t0 = performance.now();
const { mixture } = prepareMixture(recipe);
const trainDocs = mixture.groups.flatMap((g) => g.documents);
const tokenizerJson = trainBpe(
  trainDocs.map((d) => d.text),
  { vocabSize: vocab },
);
const tokenizerPath = join(work, "tokenizer.json");
writeFileSync(tokenizerPath, JSON.stringify(tokenizerJson));
console.log(`tokenizer: ${vocab} tokens from ${trainDocs.length} documents in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const config = validateConfig({
  seed: 1234,
  steps,
  out: work,
  from: null,
  tokenizer: tokenizerPath,
  backend: "wasm",
  model: { dModel: 128, nLayers: 4, nHeads: 4, contextLength: 128 },
  data: { batchSize: 8, recipe },
  schedule: { type: "warmup-cosine", peakLr: 0.002, minLr: 0.0002, warmupSteps: Math.min(100, Math.floor(steps / 10)) },
  checkpoint: { every: Math.min(200, steps), keepLast: 2 },
  eval: { every: Math.min(200, steps), batches: 8 },
  log: { every: 50 },
});
const trainer = new Trainer(config, [], { log: { info: (m) => console.log(m), warn: (m) => console.warn(m) } });
trainer.hooks.stepEnd.tap("pretrain-log", (ctx) => {
  const m = ctx.metrics!;
  if (m.step % 50 === 0) console.log(`step ${m.step}/${steps} loss ${m.loss.toFixed(4)} lr ${m.lr.toExponential(2)} ${m.tokensPerSec.toFixed(0)} tok/s`);
});
trainer.hooks.evalEnd.tap("pretrain-log", (r) => console.log(`eval step ${r.step}: held-out loss ${r.heldoutLoss.toFixed(4)}, ${r.heldoutBpb.toFixed(4)} bits/byte`));
const summary = await trainer.train();
if (summary.exitCode !== 0) throw new Error(`pretraining ended with ${summary.status}`);

// Re-save the final checkpoint with BF16 moments into a temporary dir, then swap it into place.
const final = loadCheckpoint(join(work, "checkpoints", stepDirName(steps)));
const staging = `${target}.staging`;
rmSync(staging, { recursive: true, force: true });
const dir = saveCheckpoint(staging, { state: final.state, weights: final.weights, optimizer: final.optimizer, tokenizerJson: final.tokenizerJson }, { optimizerDtype: "BF16" });
rmSync(target, { recursive: true, force: true });
renameSync(dir, target);
rmSync(staging, { recursive: true, force: true });
cpSync(join(work, "metrics.jsonl"), join(work, "..", "base-pretrain-metrics.jsonl"));
const card = {
  description: "mtx bundled base model: pretrained by `npm run fixtures:base` on State of the Union + Brown (general English).",
  steps,
  tokens: summary.tokens,
  flops: summary.flops,
  heldout: summary.heldout,
  recipe,
  wallTimeSec: Math.round(summary.wallTimeSec),
  backend: summary.backend,
};
writeFileSync(join(target, "..", "base.card.json"), JSON.stringify(card, null, 2) + "\n");
console.log(`wrote ${target}: held-out loss ${summary.heldout?.loss.toFixed(4)}, ${summary.heldout?.bpb.toFixed(4)} bits/byte`);

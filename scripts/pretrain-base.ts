/**
 * Pretrains the bundled base model, deterministically, and writes it to fixtures/base: tokenizer.json,
 * model.safetensors, optimizer.safetensors (moments in BF16 to keep the fixture small), state.json and
 * manifest.json. Three phases, each continuing from the last with its AdamW moments:
 *
 * 1. general: State of the Union and Brown (the 'general' recipe; whole held-out documents are never
 *    trained on), warmup then cosine decay.
 * 2. copying: short runs of English each followed by itself (the 'copying' recipe), constant LR.
 * 3. induction: English passages whose short spans recur later, unmarked (the 'induction' recipe),
 *    constant LR.
 *
 * A few million tokens of natural text leave a model this small without induction heads (the `induction`
 * probe reads a gain near 0), and a base that cannot copy from its context cannot be taught retrieval at a
 * longer one. Phase 2 makes copying easy to find; phase 3 turns it into matching by content.
 * The card (fixtures/base.card.json) records the phases and the final model's `heldout` and `induction`
 * probe figures. Usage: npm run fixtures:base [-- --steps N --copying-steps N --induction-steps N
 * --out DIR --from-phase NAME --engine tfjs|torch]. The engines agree to float rounding; torch is ~2.5x
 * faster on this 2-core CPU.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadCheckpoint, saveCheckpoint, stepDirName } from "../core/checkpoint/Checkpoint.js";
import type { RunSummary } from "../core/hooks.js";
import { validateConfig } from "../core/config/loadConfig.js";
import { prepareMixture } from "../core/data/pipeline.js";
import { trainBpe } from "../core/data/tokenizer/trainBpe.js";
import { BUNDLED_BASE } from "../core/paths.js";
import { TfjsModel } from "../core/engine/tfjs/TfjsModel.js";
import { Trainer } from "../core/Trainer.js";
import { PROBES } from "../probes/index.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const steps = Number(arg("steps", "2000"));
const copyingSteps = Number(arg("copying-steps", "2000"));
const inductionSteps = Number(arg("induction-steps", "1500"));
// Re-run from this phase on, reusing the earlier phases' runs in the work directory (same code, same seed:
// the same checkpoints a full run makes). For tuning the later phases without repeating the first.
const startPhase = arg("from-phase", "general");
const target = resolve(arg("out", BUNDLED_BASE));
const work = resolve(arg("work", "runs/base-pretrain"));
const vocab = Number(arg("vocab", "2048"));
const engine = arg("engine", "tfjs");

if (startPhase === "general") rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const tokenizerPath = join(work, "tokenizer.json");
if (startPhase === "general") {
  const t0 = performance.now();
  const { mixture } = prepareMixture("general");
  const trainDocs = mixture.groups.flatMap((g) => g.documents);
  writeFileSync(tokenizerPath, JSON.stringify(trainBpe(trainDocs.map((d) => d.text), { vocabSize: vocab })));
  console.log(`tokenizer: ${vocab} tokens from ${trainDocs.length} documents in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
} else {
  // The earlier phases' checkpoints were trained with the work directory's tokenizer: keep it.
  if (!existsSync(tokenizerPath)) throw new Error(`--from-phase ${startPhase}: no ${tokenizerPath}; run all phases first`);
  console.log(`tokenizer: reusing ${tokenizerPath}`);
}

interface Phase {
  name: string;
  recipe: string;
  steps: number;
  schedule: Record<string, unknown>;
}
const phases: Phase[] = [
  { name: "general", recipe: "general", steps, schedule: { type: "warmup-cosine", peakLr: 0.002, minLr: 0.0002, warmupSteps: Math.min(100, Math.floor(steps / 10)) } },
  { name: "copying", recipe: "copying", steps: copyingSteps, schedule: { type: "constant", peakLr: 0.002, warmupSteps: 20 } },
  { name: "induction", recipe: "induction", steps: inductionSteps, schedule: { type: "constant", peakLr: 0.002, warmupSteps: 20 } },
].filter((p) => p.steps > 0);
const startIndex = phases.findIndex((p) => p.name === startPhase);
if (startIndex < 0) throw new Error(`--from-phase: no phase '${startPhase}' (phases: ${phases.map((p) => p.name).join(", ")})`);

let from: string | null = null;
let summary: RunSummary | undefined;
const totals = { steps: 0, wallTimeSec: 0 };
for (const [i, phase] of phases.entries()) {
  const out = join(work, phase.name);
  if (i < startIndex) {
    const done = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as RunSummary;
    console.log(`phase ${phase.name}: reusing ${out} (${done.endStep} steps)`);
    from = join(out, "checkpoints", stepDirName(phase.steps));
    totals.steps += phase.steps;
    totals.wallTimeSec += done.wallTimeSec;
    continue;
  }
  rmSync(out, { recursive: true, force: true });
  const config = validateConfig({
    seed: 1234,
    steps: phase.steps,
    out,
    from,
    tokenizer: tokenizerPath,
    backend: "wasm",
    engine: { type: engine },
    model: { arch: "llama", dModel: 128, nLayers: 4, nHeads: 4, contextLength: 128 },
    data: { batchSize: 8, recipe: phase.recipe },
    schedule: phase.schedule,
    checkpoint: { every: Math.min(250, phase.steps), keepLast: 2 },
    eval: { every: Math.min(250, phase.steps), batches: 8 },
    log: { every: 50 },
  });
  console.log(`phase ${phase.name}: ${phase.steps} steps on the '${phase.recipe}' recipe`);
  const trainer = new Trainer(config, [], { log: { info: (m) => console.log(m), warn: (m) => console.warn(m) } });
  trainer.hooks.stepEnd.tap("pretrain-log", (ctx) => {
    const m = ctx.metrics!;
    if (m.step % 50 === 0) console.log(`${phase.name} step ${m.step}/${phase.steps} loss ${m.loss.toFixed(4)} lr ${m.lr.toExponential(2)} ${m.tokensPerSec.toFixed(0)} tok/s`);
  });
  trainer.hooks.evalEnd.tap("pretrain-log", (r) => console.log(`eval ${phase.name} step ${r.step}: held-out loss ${r.heldoutLoss.toFixed(4)}, ${r.heldoutBpb.toFixed(4)} bits/byte`));
  summary = await trainer.train();
  if (summary.exitCode !== 0) throw new Error(`pretraining phase ${phase.name} ended with ${summary.status}`);
  from = join(out, "checkpoints", stepDirName(phase.steps));
  totals.steps += phase.steps;
  totals.wallTimeSec += summary.wallTimeSec;
}
if (!summary || !from) throw new Error("pretraining: no phase has any steps");

// Re-save the final checkpoint with BF16 moments into a temporary dir, then swap it into place.
const final = loadCheckpoint(from);
const staging = `${target}.staging`;
rmSync(staging, { recursive: true, force: true });
const dir = saveCheckpoint(staging, { state: final.state, weights: final.weights, optimizer: final.optimizer, tokenizerJson: final.tokenizerJson }, { optimizerDtype: "BF16" });
rmSync(target, { recursive: true, force: true });
renameSync(dir, target);
rmSync(staging, { recursive: true, force: true });
for (const phase of phases) cpSync(join(work, phase.name, "metrics.jsonl"), join(work, "..", `base-pretrain-${phase.name}-metrics.jsonl`));
const model = TfjsModel.fromCheckpoint(target);
const probed: Record<string, Record<string, number>> = {};
for (const name of ["heldout", "induction"]) probed[name] = (await PROBES[name]!.run({ model, tokenizer: model.tokenizer, seed: 1234, load: async () => model }, { seqLen: 128, sequencesPerSource: 16 })).metrics;
await model.dispose();
const card = {
  description: "mtx bundled base model: pretrained by `npm run fixtures:base` on State of the Union + Brown (general English), then on copying and induction data.",
  steps: totals.steps,
  // A run's tokens and FLOPs count those of the checkpoint it started from: the last phase's are the total.
  tokens: summary.tokens,
  flops: summary.flops,
  heldout: { loss: probed.heldout!.loss, bpb: probed.heldout!.bpb },
  induction: probed.induction,
  phases: phases.map((p) => ({ name: p.name, recipe: p.recipe, steps: p.steps })),
  engine: summary.engine,
  wallTimeSec: Math.round(totals.wallTimeSec),
  backend: summary.backend,
};
writeFileSync(join(target, "..", "base.card.json"), JSON.stringify(card, null, 2) + "\n");
console.log(`wrote ${target}: held-out ${probed.heldout!.bpb!.toFixed(4)} bits/byte, induction gain ${probed.induction!.gain!.toFixed(2)} nats`);

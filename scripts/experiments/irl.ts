/**
 * `npm run experiment:irl`: internalized RL at the edge of competence against compute-matched plain
 * mid-training, over seeds. The bundled base has never seen the synthetic math format, so its pass rate is
 * 0 and an exact reward never fires; a shared warm start (plain mid-training on the `math-warmup` mix:
 * synthetic math, replay) brings the easiest problems (one operation) to a pass rate above 0 and well
 * below 1. From that checkpoint, per seed:
 *   irl     mid-training on the default recipe plus an RL pass every 4 steps on one-operation training
 *           problems (4 prompts x 4 samples at T=1, exact reward, group-relative REINFORCE, KL 0.02)
 *   plain   the default recipe for as many more steps as the RL passes cost in FLOPs (compute-matched)
 * Measured on held-out one-operation problems (never trained on): greedy exact match, sampled pass@1 and
 * pass@k at T=1. Options: --seeds N (3), --steps N (200), --warm-steps N (600), --items N (40), --k N (8),
 * --warm DIR (a warm start made before, instead of training one), --json FILE.
 */
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCheckpoint } from "../../core/checkpoint/Checkpoint.js";
import { trainFlopsPerToken } from "../../core/model/Transformer.js";
import { loadRun } from "../../core/report/loadRun.js";
import { IrlPlugin, irlPlugin, type IrlOptions } from "../../plugins/methods/irl.js";
import { validateOptions } from "../../plugins/registry.js";
import { arg, fmt, probe, saveResults, say, seedsArg, signedPct, spread, table, trainRun } from "./common.js";

const seeds = seedsArg();
const steps = Number(arg("steps", "200"));
const warmSteps = Number(arg("warm-steps", "600"));
const items = Number(arg("items", "40"));
const k = Number(arg("k", "8"));
const batch = 8;

const recipeFile = join(mkdtempSync(join(tmpdir(), "mtx-exp-irl-")), "math-warmup.json");
writeFileSync(recipeFile, JSON.stringify({
  name: "math-warmup",
  syntheticSeed: 2026,
  heldoutShare: 0.05,
  groups: [
    { name: "synthetic", weight: 0.7, sources: ["synthetic-math"], curriculum: { key: "difficulty", order: "easy-to-hard", buckets: 3 } },
    { name: "replay", weight: 0.3, replay: true, sources: ["brown", "sotu"] },
  ],
  quality: { exactDedup: true, nearDedup: false, decontaminate: true },
}));

async function score(checkpoint: string, seed: number) {
  const [r] = await probe(checkpoint, [{ probe: "math", params: { items, maxDifficulty: 1, k, temperature: 1 } }], seed);
  return { greedy: r!.metrics.accuracy!, sampled: r!.metrics["sampledPass@1"]!, passK: r!.metrics[`pass@${k}`]!, answerNll: r!.metrics.answerNll! };
}

const start = process.argv.includes("--warm")
  ? arg("warm", "")
  : (await trainRun("warm start", { steps: warmSteps, data: { recipe: recipeFile, batchSize: batch }, schedule: { peakLr: 1e-3, minLr: 1e-4, warmupSteps: 20 } }, [], 1)).lastCheckpoint!;
const startScore = await score(start, 1);
say(`warm start: greedy ${startScore.greedy}, sampled pass@1 ${startScore.sampled.toFixed(3)}, pass@${k} ${startScore.passK}`);
if (!(startScore.sampled > 0)) say("the warm start never solves a one-operation problem: the exact reward cannot fire; raise --warm-steps");

const model = loadCheckpoint(start, { withOptimizer: false }).state.model;
const flopsPerStep = batch * model.contextLength * trainFlopsPerToken(model, model.contextLength);
const opts = { ...(validateOptions(irlPlugin, {}) as unknown as IrlOptions), maxDifficulty: 1, reward: "exact" as const };
const runs: { arm: string; seed: number; steps: number; rlFlops: number; flops: number; score: Awaited<ReturnType<typeof score>>; trainPass1: number[] }[] = [];
for (const seed of seeds) {
  const s = await trainRun("irl", { from: start, steps, data: { batchSize: batch } }, [new IrlPlugin(opts)], seed);
  const lines = loadRun(s.runDir).metrics as unknown as Record<string, number>[];
  const rlFlops = s.compute.method;
  const trainPass1 = lines.filter((m) => m["irl.pass1"] !== undefined).map((m) => m["irl.pass1"]!);
  runs.push({ arm: "irl", seed, steps, rlFlops, flops: s.flops, score: await score(s.lastCheckpoint!, seed), trainPass1 });
  const extra = Math.round(rlFlops / flopsPerStep);
  const p = await trainRun("plain, compute-matched", { from: start, steps: steps + extra, data: { batchSize: batch } }, [], seed);
  runs.push({ arm: "plain", seed, steps: steps + extra, rlFlops: 0, flops: p.flops, score: await score(p.lastCheckpoint!, seed), trainPass1: [] });
}

const arms = ["irl", "plain"];
const rows = arms.map((arm) => {
  const mine = runs.filter((r) => r.arm === arm);
  const paired = (f: (r: (typeof runs)[number]) => number) => spread(mine.map((r) => f(r) - f(runs.find((x) => x.arm === "plain" && x.seed === r.seed)!)));
  return {
    arm,
    steps: spread(mine.map((r) => r.steps)),
    flops: spread(mine.map((r) => r.flops)),
    greedy: spread(mine.map((r) => r.score.greedy)),
    sampled: spread(mine.map((r) => r.score.sampled)),
    passK: spread(mine.map((r) => r.score.passK)),
    answerNll: spread(mine.map((r) => r.score.answerNll)),
    sampledVsPlain: paired((r) => r.score.sampled),
    trainPass1: arm === "irl" ? spread(mine.map((r) => r.trainPass1.slice(-Math.max(1, Math.floor(r.trainPass1.length / 3))).reduce((a, b, _, xs) => a + b / xs.length, 0))) : undefined,
  };
});
console.log(`\nRL at the edge of competence: warm start ${warmSteps} steps (sampled pass@1 ${(startScore.sampled * 100).toFixed(1)}%, pass@${k} ${(startScore.passK * 100).toFixed(1)}%, greedy ${(startScore.greedy * 100).toFixed(1)}% on ${items} held-out one-operation problems), then ${steps} steps, ${seeds.length} seeds (${seeds.join(", ")}); mean ± sd`);
table(
  ["arm", "steps", "TFLOP", "greedy", "sampled pass@1 (T=1)", `pass@${k}`, "answer NLL", "sampled pass@1 vs plain", "RL pass@1, last third"],
  rows.map((r) => [r.arm, r.steps.mean.toFixed(0), (r.flops.mean / 1e12).toFixed(1), fmt(r.greedy, 1, 100, "%"), fmt(r.sampled, 1, 100, "%"), fmt(r.passK, 1, 100, "%"), fmt(r.answerNll, 3), r.arm === "plain" ? "" : `${r.sampledVsPlain.mean >= 0 ? "+" : ""}${(r.sampledVsPlain.mean * 100).toFixed(1)} ± ${(r.sampledVsPlain.sd * 100).toFixed(1)} points`, r.trainPass1 ? fmt(r.trainPass1, 1, 100, "%") : ""]),
);
void signedPct;
saveResults("irl", { seeds, steps, warmSteps, items, k, start: { checkpoint: start, ...startScore }, rows, runs });

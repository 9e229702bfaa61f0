/**
 * `npm run experiment:proctor`: proctor-driven mixing (the `curriculum` plugin) against stratified sampling
 * (the recipe's weights), from the bundled base on the default recipe, over seeds. Per seed:
 *   stratified        the recipe's weights; its final checkpoint is the DoReMi reference for the next arm
 *   doremi            curriculum with that stratified-trained reference as proctor (acts from step 1)
 *   forgetting-proctor curriculum with the starting checkpoint as proctor (re-weights only what is forgotten)
 * The curriculum steers on the second half of each group's held-out documents; every arm is evaluated on
 * the first half (all windows, up to --windows per group), which steered nothing. Reported per arm: each
 * group's held-out loss, the worst group's, the token-weighted average, and their change paired by seed
 * against stratified. The doremi arm's compute includes its reference's (the stratified run).
 * Options: --seeds N (3), --steps N (250), --every N (25), --windows N (48), --json FILE.
 */
import { initBackend } from "../../core/backend.js";
import { heldoutBatches, labelledRows } from "../../core/data/pipeline.js";
import type { Document } from "../../core/data/documents.js";
import { scoreRows } from "../../core/engine/LanguageModel.js";
import { TfjsModel } from "../../core/engine/tfjs/TfjsModel.js";
import type { RunDataView } from "../../core/hooks.js";
import type { MtxPlugin } from "../../core/plugin.js";
import { CurriculumPlugin, steeringDocuments } from "../../plugins/methods/curriculum.js";
import { arg, fmt, saveResults, seedsArg, signedPct, spread, table, trainRun, type RunOutcome } from "./common.js";

const seeds = seedsArg();
const steps = Number(arg("steps", "250"));
const every = Number(arg("every", "25"));
const windows = Number(arg("windows", "48"));
const config = { steps, checkpoint: { every: 0 } };

let data: RunDataView | undefined;
const capture: MtxPlugin = { name: "experiment", apply: (t) => t.hooks.runStart.tap("experiment", (r) => void (data ??= r.data)) };

/** The evaluation half: each source's held-out documents not in the curriculum's steering sample. */
function evaluationDocuments(docs: Document[]): Document[] {
  const steer = new Set(steeringDocuments(docs));
  return docs.length > 1 ? docs.filter((d) => !steer.has(d)) : docs;
}

async function groupLosses(checkpoint: string): Promise<{ groups: Record<string, number>; tokens: Record<string, number> }> {
  await initBackend("auto");
  const model = TfjsModel.fromCheckpoint(checkpoint);
  try {
    const groups: Record<string, number> = {};
    const tokens: Record<string, number> = {};
    for (const g of data!.groups) {
      const docs = g.sources.flatMap((s) => evaluationDocuments(data!.heldout[s] ?? []));
      if (!docs.length) continue;
      const batches = heldoutBatches(docs, model.tokenizer, model.config.contextLength, 8, Math.ceil(windows / 8));
      const r = await scoreRows(model, batches.map(labelledRows));
      groups[g.name] = r.loss;
      tokens[g.name] = r.tokens;
    }
    return { groups, tokens };
  } finally {
    await model.dispose();
  }
}

type Arm = "stratified" | "doremi" | "forgetting-proctor";
const runs: (RunOutcome & { arm: Arm; groups: Record<string, number>; worst: { group: string; loss: number }; average: number; computeFlops: number })[] = [];
for (const seed of seeds) {
  const arms: [Arm, () => MtxPlugin[], number][] = [];
  const stratified = await trainRun("stratified", config, [capture], seed);
  const reference = stratified.lastCheckpoint!;
  arms.push(["doremi", () => [new CurriculumPlugin({ every, proctor: reference, sampleSequences: 8, eta: 1, smoothing: 0.1, minShare: 0.02 })], stratified.flops]);
  arms.push(["forgetting-proctor", () => [new CurriculumPlugin({ every, proctor: "start", sampleSequences: 8, eta: 1, smoothing: 0.1, minShare: 0.02 })], 0]);
  const outcomes: [Arm, RunOutcome, number][] = [["stratified", stratified, 0]];
  for (const [arm, plugins, extra] of arms) outcomes.push([arm, await trainRun(arm, config, plugins(), seed), extra]);
  for (const [arm, r, extra] of outcomes) {
    const { groups, tokens } = await groupLosses(r.lastCheckpoint!);
    const worst = Object.entries(groups).sort((a, b) => b[1] - a[1])[0]!;
    const total = Object.values(tokens).reduce((a, b) => a + b, 0);
    const average = Object.entries(groups).reduce((a, [g, l]) => a + (l * tokens[g]!) / total, 0);
    runs.push({ ...r, arm, groups, worst: { group: worst[0], loss: worst[1] }, average, computeFlops: r.flops + extra });
  }
}

const groupNames = Object.keys(runs[0]!.groups);
const arms: Arm[] = ["stratified", "doremi", "forgetting-proctor"];
const paired = (arm: Arm, f: (r: (typeof runs)[number]) => number) =>
  spread(runs.filter((r) => r.arm === arm).map((r) => f(r) / f(runs.find((x) => x.arm === "stratified" && x.seed === r.seed)!) - 1));
const rows = arms.map((arm) => {
  const mine = runs.filter((r) => r.arm === arm);
  return {
    arm,
    groups: Object.fromEntries(groupNames.map((g) => [g, spread(mine.map((r) => r.groups[g]!))])),
    worst: spread(mine.map((r) => r.worst.loss)),
    worstGroups: mine.map((r) => r.worst.group),
    average: spread(mine.map((r) => r.average)),
    worstChange: paired(arm, (r) => r.worst.loss),
    averageChange: paired(arm, (r) => r.average),
    computeFlops: spread(mine.map((r) => r.computeFlops)),
  };
});
console.log(`\nProctor-driven mixing vs stratified: ${seeds.length} seeds (${seeds.join(", ")}), ${steps} steps, re-weighting every ${every} steps from step 1; held-out loss (nats/token) on the half of each group's held-out documents that steered nothing (mean ± sd)`);
table(
  ["arm", ...groupNames, "worst group", "vs stratified", "average", "vs stratified", "compute (TFLOP)"],
  rows.map((r) => [r.arm, ...groupNames.map((g) => fmt(r.groups[g]!, 3)), `${fmt(r.worst, 4)} (${[...new Set(r.worstGroups)].join("/")})`, r.arm === "stratified" ? "" : signedPct(r.worstChange), fmt(r.average, 4), r.arm === "stratified" ? "" : signedPct(r.averageChange), (r.computeFlops.mean / 1e12).toFixed(1)]),
);
saveResults("proctor", { seeds, steps, every, windows, rows, runs });

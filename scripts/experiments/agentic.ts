/**
 * `npm run experiment:agentic`: agentic-trajectory injection against plain mid-training at equal steps
 * from the bundled base on the default mixture (which has no trajectories), over seeds. Reported: the
 * tool-use probe on held-out tasks (valid call, right tool, exact first call, rollout success), prompted
 * plainly and conditioned on success, and held-out general bits per byte against the base.
 * Options: --seeds N (3), --steps N (400), --share S (0.5), --tasks N (30), --json FILE.
 */
import { agenticPlugin, AgenticPlugin, type AgenticOptions } from "../../plugins/methods/agentic.js";
import { validateOptions } from "../../plugins/registry.js";
import { arg, fmt, probe, saveResults, seedsArg, spread, table, trainRun } from "./common.js";

const seeds = seedsArg();
const steps = Number(arg("steps", "400"));
const share = Number(arg("share", "0.5"));
const tasks = Number(arg("tasks", "30"));
const METRICS = ["validCallRate", "toolAccuracy", "callAccuracy", "successRate"];

async function score(checkpoint: string) {
  const [plain, conditioned, heldout] = await probe(checkpoint, [
    { probe: "tool-use", params: { tasks } },
    { probe: "tool-use", params: { tasks, condition: "success" } },
    { probe: "heldout", params: { seqLen: 128, sequencesPerSource: 16 } },
  ]);
  return { plain: plain!.metrics, conditioned: conditioned!.metrics, bpb: heldout!.metrics.bpb! };
}

const base = await score("bundled");
const results: { arm: string; seed: number; score: Awaited<ReturnType<typeof score>> }[] = [];
for (const seed of seeds) {
  const without = await trainRun("plain", { steps }, [], seed);
  results.push({ arm: `mid-training, ${steps} steps`, seed, score: await score(without.lastCheckpoint!) });
  const opts = validateOptions(agenticPlugin, { share }) as unknown as AgenticOptions;
  const withPlugin = await trainRun("agentic", { steps }, [new AgenticPlugin(opts)], seed);
  results.push({ arm: `mid-training + agentic (share ${share}), ${steps} steps`, seed, score: await score(withPlugin.lastCheckpoint!) });
}
const arms = [...new Set(results.map((r) => r.arm))];
const cells = (xs: Record<string, number>[]) => METRICS.map((m) => `${(spread(xs.map((x) => x[m]!)).mean * 100).toFixed(1)}`).join(" / ");
const rows = arms.map((arm) => {
  const mine = results.filter((r) => r.arm === arm);
  return { arm, plain: mine.map((r) => r.score.plain), conditioned: mine.map((r) => r.score.conditioned), general: spread(mine.map((r) => r.score.bpb / base.bpb - 1)), toolAccuracy: spread(mine.map((r) => r.score.plain.toolAccuracy!)) };
});
console.log(`\nTool-use probe on ${tasks} held-out tasks (greedy), ${seeds.length} seeds, mean %: valid call / right tool / exact first call / rollout success; general bpb vs the base (${base.bpb.toFixed(4)}), mean ± sd`);
table(
  ["run", "plain prompt", "right tool (plain), ± sd", "conditioned on success", "general bpb vs base"],
  [["base", cells([base.plain]), "", cells([base.conditioned]), ""], ...rows.map((r) => [r.arm, cells(r.plain), fmt(r.toolAccuracy, 1, 100, "%"), cells(r.conditioned), fmt(r.general, 2, 100, "%")])],
);
saveResults("agentic", { seeds, steps, share, tasks, base, rows: rows.map((r) => ({ arm: r.arm, general: r.general, toolAccuracy: r.toolAccuracy })), results });

/**
 * `npm run experiment:irl`: internalized RL during mid-training against a compute-matched plain run.
 * Both start from the bundled base on the default mixture. The irl runs add an RL pass every 4 steps
 * (4 training math prompts x 4 samples at T=1, group-relative REINFORCE, KL 0.02 to the base); the plain
 * run gets as many extra LM steps as the RL passes cost in FLOPs. Reported: pass@1 (greedy exact match)
 * on the held-out synthetic math items, overall and for 1- and 2-operation problems, and the teacher-forced
 * NLL of the reference solutions and answers (sensitive where exact match is still 0).
 * Options: --steps N (default 200), --rewards exact,prefix, --items N (default 60).
 */
import { trainFlopsPerToken } from "../../core/model/Transformer.js";
import { loadCheckpoint } from "../../core/checkpoint/Checkpoint.js";
import { BUNDLED_BASE } from "../../core/paths.js";
import { IrlPlugin, irlPlugin, type IrlOptions } from "../../plugins/methods/irl.js";
import { validateOptions } from "../../plugins/registry.js";
import { loadRun } from "../../core/report/loadRun.js";
import { arg, pct, probe, trainRun } from "./common.js";

const steps = Number(arg("steps", "200"));
const rewards = arg("rewards", "exact,prefix").split(",") as IrlOptions["reward"][];
const items = Number(arg("items", "60"));

const base = loadCheckpoint(BUNDLED_BASE, { withOptimizer: false }).state.model;
const batch = 8;
const flopsPerStep = batch * base.contextLength * trainFlopsPerToken(base, base.contextLength);

async function mathScore(checkpoint: string) {
  const [r] = await probe(checkpoint, [{ probe: "math", params: { items } }]);
  return r!.metrics;
}

const rows: { label: string; steps: number; rlFlops: number; math: Record<string, number>; trainPass1?: string }[] = [];
rows.push({ label: "base", steps: 0, rlFlops: 0, math: await mathScore("bundled") });
let maxRlFlops = 0;
for (const reward of rewards) {
  const opts = validateOptions(irlPlugin, { reward }) as unknown as IrlOptions;
  const s = await trainRun(`irl-${reward}`, { steps, data: { batchSize: batch } }, [new IrlPlugin(opts)]);
  const lines = loadRun(s.runDir).metrics as unknown as Record<string, number>[];
  const rlFlops = [...lines].reverse().find((m) => m["irl.flops"] !== undefined)?.["irl.flops"] ?? 0;
  maxRlFlops = Math.max(maxRlFlops, rlFlops);
  const p1 = lines.filter((m) => m["irl.pass1"] !== undefined).map((m) => m["irl.pass1"]!);
  const third = Math.max(1, Math.floor(p1.length / 3));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  rows.push({ label: `mid-training + irl (${reward} reward)`, steps, rlFlops, math: await mathScore(s.lastCheckpoint!), trainPass1: `${pct(mean(p1.slice(0, third)))} -> ${pct(mean(p1.slice(-third)))}` });
}
const extra = Math.round(maxRlFlops / flopsPerStep);
const plain = await trainRun("plain (compute-matched)", { steps: steps + extra, data: { batchSize: batch } });
rows.push({ label: `plain mid-training, compute-matched (+${extra} steps)`, steps: steps + extra, rlFlops: 0, math: await mathScore(plain.lastCheckpoint!) });

console.log(`\nHeld-out synthetic math, greedy pass@1 on ${items} items (difficulty 1-6 cycling); one LM step = ${(flopsPerStep / 1e9).toFixed(2)} GFLOP`);
console.log("teacher-forced NLL (nats) of the reference solution per token and of the answer given the steps: lower is better");
console.log(["run".padEnd(52), "steps".padStart(6), "RL GFLOP".padStart(10), "pass@1".padStart(8), "d1".padStart(7), "d2".padStart(7), "sol. NLL".padStart(10), "ans. NLL".padStart(10), "  RL-pass@1 on training prompts (first -> last third)"].join(""));
for (const r of rows) {
  console.log([r.label.padEnd(52), String(r.steps).padStart(6), (r.rlFlops / 1e9).toFixed(1).padStart(10), pct(r.math.accuracy!).padStart(8), pct(r.math["accuracy.d1"] ?? 0).padStart(7), pct(r.math["accuracy.d2"] ?? 0).padStart(7), r.math.solutionNll!.toFixed(4).padStart(10), r.math.answerNll!.toFixed(4).padStart(10), "  " + (r.trainPass1 ?? "")].join(""));
}

/**
 * `npm run experiment:agentic`: agentic-trajectory injection against plain mid-training at equal steps
 * from the bundled base on the default mixture (which has no trajectories). Reported: the tool-use probe
 * on held-out tasks (first-call accuracy, full-rollout success), prompted plainly and conditioned on
 * success, and held-out general bits per byte against the base.
 * Options: --steps N (default 400), --share S (default 0.5), --tasks N (default 30).
 */
import { agenticPlugin, AgenticPlugin, type AgenticOptions } from "../../plugins/methods/agentic.js";
import { validateOptions } from "../../plugins/registry.js";
import { arg, pct, probe, trainRun } from "./common.js";

const steps = Number(arg("steps", "400"));
const share = Number(arg("share", "0.5"));
const tasks = Number(arg("tasks", "30"));

async function score(checkpoint: string) {
  const [plain, conditioned, heldout] = await probe(checkpoint, [
    { probe: "tool-use", params: { tasks } },
    { probe: "tool-use", params: { tasks, condition: "success" } },
    { probe: "heldout", params: { seqLen: 128, sequencesPerSource: 16 } },
  ]);
  return { plain: plain!.metrics, conditioned: conditioned!.metrics, bpb: heldout!.metrics.bpb! };
}

const base = await score("bundled");
const without = await trainRun("plain", { steps });
const opts = validateOptions(agenticPlugin, { share }) as unknown as AgenticOptions;
const withPlugin = await trainRun("agentic", { steps }, [new AgenticPlugin(opts)]);
const rows: [string, Awaited<ReturnType<typeof score>>][] = [
  ["base", base],
  [`mid-training, ${steps} steps`, await score(without.lastCheckpoint!)],
  [`mid-training + agentic (share ${share}), ${steps} steps`, await score(withPlugin.lastCheckpoint!)],
];
console.log(`\nTool-use probe on ${tasks} held-out tasks (greedy), plain prompt | conditioned on 'Outcome: success':`);
console.log("valid call (a well-formed Action naming a real tool) / right tool / exact first call / rollout success");
const cells = (m: Record<string, number>) => `${pct(m.validCallRate!)} / ${pct(m.toolAccuracy!)} / ${pct(m.callAccuracy!)} / ${pct(m.successRate!)}`;
console.log(["run".padEnd(48), "plain".padStart(30), "conditioned".padStart(30), "general bpb".padStart(22)].join(""));
for (const [label, s] of rows) {
  const d = ((s.bpb - base.bpb) / base.bpb) * 100;
  console.log([label.padEnd(48), cells(s.plain).padStart(30), cells(s.conditioned).padStart(30), `${s.bpb.toFixed(4)} (${d >= 0 ? "+" : ""}${d.toFixed(2)}%)`.padStart(22)].join(""));
}

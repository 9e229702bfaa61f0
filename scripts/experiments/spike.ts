/**
 * `npm run experiment:spike`: the spike guardrail against LR faults of several sizes on the default
 * mid-training run from the bundled base, over seeds. Per seed: a clean run with and without the guardrail
 * (its false positives), each fault size (lr-spike@STEP:xK:3) with and without it, and a fault that recurs
 * whenever a rollback replays its step (which should end in a halt once the rollback budget is spent). The
 * measure is held-out bits per byte at the end (the run's own held-out split, which steered nothing); the
 * change is paired by seed against the clean unguarded run.
 * Options: --seeds N (3), --steps N (250), --at STEP (120), --sizes 3,10,30,100, --json FILE.
 */
import { validateOptions } from "../../plugins/registry.js";
import { spikePlugin, SpikePlugin, type SpikeOptions } from "../../plugins/guardrails/spike.js";
import { fmt, saveResults, seedsArg, signedPct, spread, table, trainRun, arg, type RunOutcome } from "./common.js";

const seeds = seedsArg();
const steps = Number(arg("steps", "250"));
const at = Number(arg("at", "120"));
const sizes = arg("sizes", "3,10,30,100").split(",").map(Number);
const guard = () => [new SpikePlugin(validateOptions(spikePlugin, {}) as unknown as SpikeOptions)];
const base = { steps, checkpoint: { every: 50, keepLast: 3 }, eval: { every: 0, batches: 8 } };

interface Arm {
  label: string;
  fault: string | null;
  guarded: boolean;
}
const arms: Arm[] = [
  { label: "clean, unguarded", fault: null, guarded: false },
  { label: "clean, guarded", fault: null, guarded: true },
  ...sizes.flatMap((k) => [
    { label: `x${k}, unguarded`, fault: `lr-spike@${at}:x${k}:3`, guarded: false },
    { label: `x${k}, guarded`, fault: `lr-spike@${at}:x${k}:3`, guarded: true },
  ]),
  { label: "x100 recurring, guarded", fault: `lr-spike@${at}:x100:3:recur`, guarded: true },
];

const runs: (RunOutcome & { arm: string; actions: string[] })[] = [];
for (const seed of seeds) {
  for (const a of arms) {
    const r = await trainRun(a.label, { ...base, inject: a.fault ? [a.fault] : [] }, a.guarded ? guard() : [], seed);
    const actions = r.summary.verdicts.filter((v) => v.plugin === "spike").map((v) => `${v.action}@${v.step}`);
    runs.push({ ...r, arm: a.label, actions });
  }
}

const cleanBpb = new Map(runs.filter((r) => r.arm === "clean, unguarded").map((r) => [r.seed, r.heldoutBpb!]));
const rows = arms.map((a) => {
  const mine = runs.filter((r) => r.arm === a.label);
  const finished = mine.filter((r) => r.heldoutBpb !== null);
  const bpb = spread(finished.map((r) => r.heldoutBpb!));
  const delta = spread(finished.map((r) => r.heldoutBpb! / cleanBpb.get(r.seed)! - 1));
  const statuses = [...new Set(mine.map((r) => r.status))].map((s) => `${s} ${mine.filter((r) => r.status === s).length}/${mine.length}`).join(", ");
  const actions = mine.map((r) => (r.actions.length ? r.actions.join(" ") : "none")).join(" | ");
  const redone = spread(mine.map((r) => r.tokens));
  return { arm: a.label, fault: a.fault, guarded: a.guarded, bpb, delta, statuses, actions, tokens: redone, flops: spread(mine.map((r) => r.flops)) };
});

console.log(`\nSpike guardrail, ${seeds.length} seeds (${seeds.join(", ")}), ${steps} steps, fault at step ${at} for 3 steps; held-out bits per byte at the end (mean ± sd over seeds); change paired by seed against the clean unguarded run`);
table(
  ["arm", "held-out bpb", "vs clean", "status", "tokens trained", "spike decisions (per seed)"],
  rows.map((r) => [r.arm, fmt(r.bpb), r.arm === "clean, unguarded" ? "" : signedPct(r.delta), r.statuses, r.tokens.mean.toFixed(0), r.actions]),
);
const clean = runs.filter((r) => r.arm === "clean, guarded");
console.log(`false positives on clean runs: ${clean.reduce((a, r) => a + r.actions.length, 0)} spike decisions in ${clean.length * steps} guarded steps`);
saveResults("spike", { seeds, steps, at, sizes, rows, runs });

/**
 * `npm run experiment:replay`: how much forgetting general-text replay removes, one factor at a time. The
 * default recipe with the replay group's share set to each of 0/5/10/20/30% and the other groups rescaled
 * proportionally (nothing else changes: same sources, filters, curriculum, steps and schedule), at the
 * default peak LR and a high one, over seeds. Forgetting is the drift guardrail's measure: held-out general
 * bits per byte (the replay sources' held-out documents, never trained on) against the bundled base, at
 * the end of the run; drift is set to record, never to act, so every run finishes. Also reported: the
 * in-domain held-out bits per byte (the run's eval) and whether drift's default thresholds would have
 * warned (+2%) or halted (+5%).
 * Options: --seeds N (3), --steps N (250), --shares 0,0.05,0.1,0.2,0.3, --lrs 3e-4,3e-3, --json FILE.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../../core/paths.js";
import { DriftPlugin, driftPlugin, type DriftOptions } from "../../plugins/guardrails/drift.js";
import { validateOptions } from "../../plugins/registry.js";
import { arg, fmt, saveResults, seedsArg, signedPct, spread, table, trainRun, type RunOutcome } from "./common.js";

const seeds = seedsArg();
const steps = Number(arg("steps", "250"));
const shares = arg("shares", "0,0.05,0.1,0.2,0.3").split(",").map(Number);
const lrs = arg("lrs", "3e-4,3e-3").split(",").map(Number);

interface Group {
  name: string;
  weight: number;
  replay?: boolean;
}
const recipe = JSON.parse(readFileSync(join(PACKAGE_ROOT, "fixtures", "recipes", "default.json"), "utf8")) as { name: string; groups: Group[] };
const dir = mkdtempSync(join(tmpdir(), "mtx-exp-replay-recipes-"));
/** The default recipe with the replay group at `share` and the other groups rescaled to 1 - share. */
function recipeWithReplay(share: number): string {
  const others = recipe.groups.filter((g) => !g.replay).reduce((a, g) => a + g.weight, 0);
  const groups = recipe.groups.map((g) => ({ ...g, weight: g.replay ? share : (g.weight / others) * (1 - share) }));
  const file = join(dir, `replay-${share}.json`);
  writeFileSync(file, JSON.stringify({ ...recipe, name: `default, replay ${share * 100}%`, groups }, null, 2));
  return file;
}

const runs: (RunOutcome & { share: number; lr: number; forgetting: number; history: { step: number; delta: number }[] })[] = [];
for (const lr of lrs) {
  for (const share of shares) {
    const file = recipeWithReplay(share);
    for (const seed of seeds) {
      // Record only: act beyond any value, so the end of the run is always measured.
      const drift = new DriftPlugin({ ...(validateOptions(driftPlugin, {}) as unknown as DriftOptions), act: 1e9, lag: 0 });
      const r = await trainRun(`replay ${share * 100}% at LR ${lr}`, { steps, data: { recipe: file }, schedule: { peakLr: lr, minLr: lr / 10 } }, [drift], seed);
      const history = (drift.state() as { history: { step: number; delta: number }[] }).history.map((h) => ({ step: h.step, delta: h.delta }));
      runs.push({ ...r, share, lr, forgetting: history.at(-1)?.delta ?? NaN, history });
    }
  }
}

const rows = lrs.flatMap((lr) => {
  const none = spread(runs.filter((r) => r.lr === lr && r.share === 0).map((r) => r.forgetting));
  return shares.map((share) => {
    const mine = runs.filter((r) => r.lr === lr && r.share === share);
    const forgetting = spread(mine.map((r) => r.forgetting));
    // Share of the no-replay forgetting removed, paired by seed.
    const removed = spread(mine.map((r) => {
      const zero = runs.find((x) => x.lr === lr && x.share === 0 && x.seed === r.seed)!.forgetting;
      return zero > 0 ? 1 - r.forgetting / zero : NaN;
    }));
    const maxDelta = mine.map((r) => Math.max(...r.history.map((h) => h.delta)));
    return {
      lr,
      share,
      forgetting,
      removed,
      noReplay: none,
      heldout: spread(mine.map((r) => r.heldoutBpb!)),
      warned: maxDelta.filter((d) => d > 0.02).length,
      halted: maxDelta.filter((d) => d > 0.05).length,
      n: mine.length,
    };
  });
});

console.log(`\nReplay share, one factor at a time: ${seeds.length} seeds (${seeds.join(", ")}), ${steps} steps from the bundled base; general held-out bpb change vs the base at the end (mean ± sd)`);
table(
  ["peak LR", "replay", "general bpb vs base", "forgetting removed", "in-domain held-out bpb", "drift would warn (+2%)", "would halt (+5%)"],
  rows.map((r) => [String(r.lr), `${(r.share * 100).toFixed(0)}%`, signedPct(r.forgetting), r.share === 0 ? "" : r.noReplay.mean > 0 ? signedPct(r.removed, 0).replace(/^\+/, "") : "n/a (no forgetting)", fmt(r.heldout), `${r.warned}/${r.n}`, `${r.halted}/${r.n}`]),
);
saveResults("replay", { seeds, steps, shares, lrs, rows, runs });

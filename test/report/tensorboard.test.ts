// A run writes RUN/tb/ as it trains: TensorBoard's own reader (the tensorboard package's EventAccumulator)
// reads it while the run is held at a known step, and again at the end, and its scalars equal
// metrics.jsonl's, late drift results at the step they measured, with real wall times; decisions and the
// config are text.
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { mergeLateMetrics, type LateMetrics, type StepMetrics } from "../../core/run/records.js";
import { mtx, mtxAsync, PYTHON, ROOT, tempDir, tinyConfig } from "../helpers/cli.js";
import { readJsonl } from "../helpers/trainer.js";

const READ = `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0})
ea.Reload()
tags = ea.Tags()
print(json.dumps({
    "scalars": {t: [[e.step, e.wall_time, e.value] for e in ea.Scalars(t)] for t in tags["scalars"]},
    "text": {t: [[e.step, e.tensor_proto.string_val[0].decode()] for e in ea.Tensors(t)] for t in tags["tensors"]},
}))
`;

interface Board {
  scalars: Record<string, [number, number, number][]>;
  text: Record<string, [number, string][]>;
}

function readBoard(dir: string): Board {
  const r = spawnSync(PYTHON, ["-c", READ, dir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Board;
}

async function until(cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("live TensorBoard", () => {
  let dir = "";
  let start = "";
  beforeAll(() => {
    dir = tempDir();
    const cfg = join(dir, "start.json");
    writeFileSync(cfg, JSON.stringify(tinyConfig({ checkpoint: { every: 0, keepLast: 2 } })));
    const r = mtx(["train", "--config", cfg, "--steps", "2", "--out", join(dir, "start"), "--json"]);
    expect(r.code, r.stderr).toBe(0);
    start = JSON.parse(r.stdout).lastCheckpoint;
  });

  it("shows the run's curves while it trains, with real wall times, late results at the step they measured", async () => {
    const marker = join(dir, "at-step");
    const release = join(dir, "release");
    const run = join(dir, "run");
    const config = join(dir, "run.json");
    writeFileSync(
      config,
      JSON.stringify(
        tinyConfig({
          from: start,
          steps: 30,
          inject: ["lr-spike@12:x5"],
          plugins: [
            { name: "drift", options: { every: 10, lag: 3, batches: 1 } },
            { name: join(ROOT, "test", "fixtures", "plugins", "block-at.js"), options: { step: 20, marker, release } },
          ],
        }),
      ),
    );
    const { done } = mtxAsync(["train", "--config", config, "--out", run]);
    await until(() => existsSync(marker));
    // Held at step 20 (its stepEnd hook): TensorBoard shows every step metrics.jsonl holds so far.
    const live = readBoard(join(run, "tb"));
    const loss = live.scalars.loss!;
    const sofar = readJsonl<StepMetrics>(join(run, "metrics.jsonl")).filter((m) => !(m as unknown as LateMetrics).late);
    expect(sofar.length).toBeGreaterThanOrEqual(19);
    expect(loss.map(([s]) => s)).toEqual(sofar.map((m) => m.step));
    const walls = loss.map(([, w]) => w);
    for (let i = 1; i < walls.length; i++) expect(walls[i]!).toBeGreaterThanOrEqual(walls[i - 1]!);
    expect(walls.at(-1)! - walls[0]!).toBeGreaterThan(0);
    expect(Math.abs(walls.at(-1)! - Date.now() / 1000)).toBeLessThan(120);
    expect(live.text.decisions!.some(([s, t]) => s === 12 && /inject.*lr-spike@12:x5/.test(t))).toBe(true);
    expect(JSON.parse(live.text.config![0]![1].replace(/^```json\n|\n```$/g, "")).steps).toBe(30);
    // Drift measured the weights of step 10 and its result arrived at step 13: drawn at step 10.
    expect(live.scalars.driftBpb!.map(([s]) => s)).toEqual([10]);
    writeFileSync(release, "");
    const r = await done;
    expect(r.code, r.stderr).toBe(0);

    const board = readBoard(join(run, "tb"));
    const metrics = mergeLateMetrics(readJsonl<StepMetrics | LateMetrics>(join(run, "metrics.jsonl")));
    expect(metrics).toHaveLength(30);
    expect(board.scalars.loss!.map(([s]) => s)).toEqual(metrics.map((m) => m.step));
    board.scalars.loss!.forEach(([, , v], i) => expect(v).toBeCloseTo(metrics[i]!.loss, 4));
    board.scalars.lr!.forEach(([, , v], i) => expect(v / metrics[i]!.lr).toBeCloseTo(1, 5));
    // Every number of metrics.jsonl is a tag, nested maps one level down.
    const tags = Object.keys(board.scalars);
    expect(tags).toEqual(expect.arrayContaining(["gradNorm", "updateNorm", "tokensPerSec", "driftBpb", "driftDelta", "sourceLoss/brown", "mixtureWeights/replay"]));
    const drift = board.scalars.driftBpb!;
    expect(drift.map(([s]) => s)).toEqual([10, 20, 30].filter((s) => metrics.find((m) => m.step === s)?.driftBpb !== undefined));
    expect(drift.length).toBeGreaterThanOrEqual(2);
    drift.forEach(([s, , v]) => expect(v).toBeCloseTo(metrics.find((m) => m.step === s)!.driftBpb as number, 4));
  });

  it("log.tensorboard false writes no event file", () => {
    const config = join(dir, "off.json");
    writeFileSync(config, JSON.stringify(tinyConfig({ steps: 2, log: { every: 1000, tensorboard: false } })));
    const r = mtx(["train", "--config", config, "--out", join(dir, "off")]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(dir, "off", "tb"))).toBe(false);
  });
});

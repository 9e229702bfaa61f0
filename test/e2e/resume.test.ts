// N steps straight equal k steps, SIGKILL, --resume, and the rest: bitwise identical losses.
// SIGINT saves a checkpoint and exits 130; the run then resumes to the same curve.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mtx, mtxAsync, tempDir, tinyConfig } from "../helpers/cli.js";
import { readJsonl } from "../helpers/trainer.js";

const STEPS = 40;
// Slow enough per step (~50 ms) that a kill lands mid-run.
const config = tinyConfig({ steps: STEPS, model: { dModel: 64, nLayers: 2, nHeads: 2, contextLength: 64 }, checkpoint: { every: 10, keepLast: 10 }, eval: { every: 20, batches: 1 } });

function writeConfig(dir: string): string {
  const file = join(dir, "config.json");
  writeFileSync(file, JSON.stringify(config));
  return file;
}

async function until(cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

const losses = (run: string) => readJsonl<{ step: number; loss: number }>(join(run, "metrics.jsonl")).map((m) => [m.step, m.loss]);

describe("resume", () => {
  let straight: (number | undefined)[][] = [];

  it("a straight run completes", () => {
    const dir = tempDir();
    const r = mtx(["train", "--config", writeConfig(dir), "--out", join(dir, "run")]);
    expect(r.code, r.stderr).toBe(0);
    straight = losses(join(dir, "run"));
    expect(straight).toHaveLength(STEPS);
  });

  it("SIGKILL after a checkpoint, then --resume, gives bitwise identical losses", async () => {
    const dir = tempDir();
    const run = join(dir, "run");
    const { child, done } = mtxAsync(["train", "--config", writeConfig(dir), "--out", run]);
    await until(() => existsSync(join(run, "checkpoints", "step-20", "manifest.json")));
    child.kill("SIGKILL");
    const killed = await done;
    expect(killed.signal).toBe("SIGKILL");
    expect(existsSync(join(run, "summary.json"))).toBe(false);
    expect(existsSync(join(run, "checkpoints", `step-${STEPS}`))).toBe(false);
    const r = mtx(["train", "--out", run, "--resume"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resumed at step (20|30)/);
    expect(losses(run)).toEqual(straight);
  });

  it("SIGINT saves a checkpoint and exits 130; resuming continues the same curve", async () => {
    const dir = tempDir();
    const run = join(dir, "run");
    const { child, done } = mtxAsync(["train", "--config", writeConfig(dir), "--out", run]);
    await until(() => readJsonl(join(run, "metrics.jsonl")).length >= 13);
    child.kill("SIGINT");
    const stopped = await done;
    expect(stopped.code).toBe(130);
    const summary = JSON.parse(readFileSync(join(run, "summary.json"), "utf8"));
    expect(summary.status).toBe("interrupted");
    expect(existsSync(join(summary.lastCheckpoint, "manifest.json"))).toBe(true);
    expect(summary.lastCheckpoint).toMatch(new RegExp(`step-${summary.endStep}$`));
    const r = mtx(["train", "--out", run, "--resume"]);
    expect(r.code, r.stderr).toBe(0);
    expect(losses(run)).toEqual(straight);
  });

  it("SIGTERM exits 143 after saving", async () => {
    const dir = tempDir();
    const run = join(dir, "run");
    const { child, done } = mtxAsync(["train", "--config", writeConfig(dir), "--out", run]);
    await until(() => readJsonl(join(run, "metrics.jsonl")).length >= 3);
    child.kill("SIGTERM");
    expect((await done).code).toBe(143);
  });
});

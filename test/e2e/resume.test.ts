// N steps straight equal k steps, SIGKILL, --resume, and the rest: bitwise identical losses, whatever
// temporary leftovers the kill left. SIGINT and SIGTERM stop right after the step in progress, save a
// checkpoint and exit 130 / 143; the run then resumes to the same curve, and its summary covers the whole
// run. Every signal is sent while a test plugin holds the run at a known step, so no test depends on timing.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mtx, mtxAsync, ROOT, tempDir, tinyConfig } from "../helpers/cli.js";
import { readJsonl } from "../helpers/trainer.js";

const STEPS = 40;
const BLOCK = join(ROOT, "test", "fixtures", "plugins", "block-at.js");

/** A run config that holds the run at the end of `step` until `release` exists. */
function writeConfig(dir: string, step: number): { file: string; marker: string; release: string } {
  const marker = join(dir, "at-step");
  const release = join(dir, "release");
  const file = join(dir, "config.json");
  const config = tinyConfig({ steps: STEPS, checkpoint: { every: 10, keepLast: 10 }, eval: { every: 20, batches: 1 }, plugins: [{ name: BLOCK, options: { step, marker, release } }] });
  writeFileSync(file, JSON.stringify(config));
  return { file, marker, release };
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
    const { file, release } = writeConfig(dir, STEPS + 1);
    writeFileSync(release, "");
    const r = mtx(["train", "--config", file, "--out", join(dir, "run")]);
    expect(r.code, r.stderr).toBe(0);
    straight = losses(join(dir, "run"));
    expect(straight).toHaveLength(STEPS);
  });

  it("SIGKILL after a checkpoint, leftovers of an unfinished one, then --resume: bitwise identical losses", async () => {
    const dir = tempDir();
    const run = join(dir, "run");
    const { file, marker, release } = writeConfig(dir, 25);
    const { child, done } = mtxAsync(["train", "--config", file, "--out", run]);
    await until(() => existsSync(marker));
    child.kill("SIGKILL");
    const killed = await done;
    expect(killed.signal).toBe("SIGKILL");
    expect(existsSync(join(run, "summary.json"))).toBe(false);
    expect(existsSync(join(run, ".mtx.lock"))).toBe(true); // a dead process's lock, taken over below
    // What a kill during a checkpoint write leaves: a temporary directory and a step directory without a manifest.
    mkdirSync(join(run, "checkpoints", ".tmp-step-30-99999"));
    writeFileSync(join(run, "checkpoints", ".tmp-step-30-99999", "model.safetensors"), "partial");
    mkdirSync(join(run, "checkpoints", "step-30"));
    writeFileSync(join(run, "checkpoints", "step-30", "model.safetensors"), "partial");
    writeFileSync(release, "");
    const r = mtx(["train", "--out", run, "--resume"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resumed at step 20 /);
    expect(losses(run)).toEqual(straight);
    const summary = JSON.parse(readFileSync(join(run, "summary.json"), "utf8"));
    expect(summary).toMatchObject({ startStep: 0, endStep: STEPS, steps: STEPS, resumedAt: [20], firstLoss: straight[0]![1], lastLoss: straight.at(-1)![1] });
    expect(existsSync(join(run, "checkpoints", ".tmp-step-30-99999"))).toBe(false);
  });

  it("SIGINT stops right after the step in progress, saves a checkpoint and exits 130; resuming continues the same curve", async () => {
    const dir = tempDir();
    const run = join(dir, "run");
    const { file, marker, release } = writeConfig(dir, 13);
    const { child, done } = mtxAsync(["train", "--config", file, "--out", run]);
    await until(() => existsSync(marker));
    child.kill("SIGINT");
    writeFileSync(release, "");
    const stopped = await done;
    expect(stopped.code).toBe(130);
    const summary = JSON.parse(readFileSync(join(run, "summary.json"), "utf8"));
    expect(summary).toMatchObject({ status: "interrupted", endStep: 13 });
    expect(summary.lastCheckpoint).toMatch(/step-13$/);
    expect(existsSync(join(summary.lastCheckpoint, "manifest.json"))).toBe(true);
    expect(losses(run).at(-1)![0]).toBe(13);
    const r = mtx(["train", "--out", run, "--resume"]);
    expect(r.code, r.stderr).toBe(0);
    expect(losses(run)).toEqual(straight);
    const whole = JSON.parse(readFileSync(join(run, "summary.json"), "utf8"));
    expect(whole).toMatchObject({ status: "completed", steps: STEPS, resumedAt: [13], firstLoss: straight[0]![1] });
  });

  it("SIGTERM stops right after the step in progress and exits 143 after saving", async () => {
    const dir = tempDir();
    const run = join(dir, "run");
    const { file, marker, release } = writeConfig(dir, 3);
    const { child, done } = mtxAsync(["train", "--config", file, "--out", run]);
    await until(() => existsSync(marker));
    child.kill("SIGTERM");
    writeFileSync(release, "");
    expect((await done).code).toBe(143);
    expect(JSON.parse(readFileSync(join(run, "summary.json"), "utf8"))).toMatchObject({ status: "interrupted", endStep: 3, exitCode: 143 });
    expect(existsSync(join(run, "checkpoints", "step-3", "manifest.json"))).toBe(true);
  });
});

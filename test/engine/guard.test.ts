/**
 * Guarding loops mtx does not run: the plain PyTorch example of docs/engines.md (run verbatim) and Hugging
 * Face's Trainer on a tiny LlamaForCausalLM, and Lightning's Trainer on a tiny model, each under `mtx guard` with a guardrail that skips step 3, cuts
 * the LR in half for steps 5-7 and halts at step 9. The loops must obey: the weights do not move at step 3,
 * the LR applied is halved, training stops at step 9; the guard exits 3 with the usual records.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, PYTHON, ROOT, tempDir, TORCH_PACKAGE } from "../helpers/cli.js";
import { readJsonl } from "../helpers/trainer.js";

const VERDICTS = join(ROOT, "test", "fixtures", "plugins", "verdicts-at.js");

/** Start `mtx guard` on a free port with the test guardrail (or `plugins`); resolves with its address and its exit. */
async function startGuard(dir: string, plugins: unknown[] = [{ name: VERDICTS, options: { skip: [3], cut: { at: 5, factor: 0.5, steps: 3 }, halt: 9 } }], extra: string[] = []) {
  const config = join(dir, "guard.json");
  writeFileSync(config, JSON.stringify({ plugins }));
  const child = spawn(process.execPath, [BIN, "guard", "--config", config, "--port", "0", "--out", join(dir, "guarded"), ...extra], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const address = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`mtx guard exited ${code}: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { address, exited, stderr: () => stderr };
}

function python(args: string[], env: Record<string, string>) {
  const r = spawnSync(PYTHON, args, { encoding: "utf8", env: { ...process.env, PYTHONPATH: TORCH_PACKAGE, ...env }, timeout: 300_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

function guardedRecords(dir: string) {
  const metrics = readJsonl<{ step: number; lr: number; skipped: boolean }>(join(dir, "guarded", "metrics.jsonl"));
  const decisions = readJsonl<{ step: number; action: string; plugin: string }>(join(dir, "guarded", "decisions.jsonl"));
  return { metrics, decisions, summary: JSON.parse(readFileSync(join(dir, "guarded", "summary.json"), "utf8")) };
}

describe("mtx guard", () => {
  it("guards the plain PyTorch loop of docs/engines.md, which obeys a skip, an LR cut and a halt", async () => {
    const dir = tempDir("mtx-guard-");
    const doc = readFileSync(join(ROOT, "docs", "engines.md"), "utf8");
    const m = /```python file=guard_example\.py\n([\s\S]*?)```/.exec(doc);
    expect(m, "docs/engines.md has a ```python file=guard_example.py block").toBeTruthy();
    const example = join(dir, "guard_example.py");
    writeFileSync(example, m![1]!);
    const guard = await startGuard(dir);
    python([example], { MTX_GUARD: guard.address });
    expect(await guard.exited, guard.stderr()).toBe(3);
    const { metrics, decisions, summary } = guardedRecords(dir);
    expect(metrics.map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]); // stopped at the halt
    expect(metrics.map((x) => x.skipped)).toEqual([false, false, true, false, false, false, false, false, true]);
    expect(metrics.map((x) => x.lr)).toEqual([0.001, 0.001, 0.001, 0.001, 0.0005, 0.0005, 0.0005, 0.001, 0.001]);
    expect(decisions.map((d) => [d.action, d.step])).toEqual([["skip", 3], ["reduce-lr", 5], ["halt", 9]]);
    expect(summary).toMatchObject({ status: "halted", exitCode: 3, halt: { plugin: "verdicts-at" } });
  });

  it("guards Hugging Face's Trainer through its callback: the weights stand still when skipped, the LR is cut, training stops", async () => {
    const dir = tempDir("mtx-guard-hf-");
    const guard = await startGuard(dir);
    const out = python([join(ROOT, "test", "fixtures", "python", "hf_guarded.py"), guard.address, join(dir, "hf")], {});
    expect(await guard.exited, guard.stderr()).toBe(3);
    const { steps, global_step } = JSON.parse(out.trim().split("\n").at(-1)!) as { steps: { step: number; lr: number; moved: boolean }[]; global_step: number };
    expect(global_step).toBe(9);
    expect(steps.map((s) => s.moved)).toEqual([true, true, false, true, true, true, true, true, false]);
    expect(steps.map((s) => s.lr)).toEqual([0.001, 0.001, 0.001, 0.001, 0.0005, 0.0005, 0.0005, 0.001, 0.001]);
    const { metrics } = guardedRecords(dir);
    expect(metrics).toHaveLength(9);
    for (const m of metrics as unknown as { loss: number; gradNorm: number }[]) {
      expect(m.loss).toBeGreaterThan(3); // ~ln 64 for a random tiny model
      expect(m.gradNorm).toBeGreaterThan(0);
    }
  });

  it("guards Lightning's Trainer through its callback: the weights stand still when skipped, the LR is cut, training stops", async () => {
    const dir = tempDir("mtx-guard-lightning-");
    const guard = await startGuard(dir);
    const out = python([join(ROOT, "test", "fixtures", "python", "lightning_guarded.py"), guard.address], {});
    expect(await guard.exited, guard.stderr()).toBe(3);
    const { steps, global_step } = JSON.parse(out.trim().split("\n").at(-1)!) as { steps: { step: number; lr: number; moved: boolean }[]; global_step: number };
    expect(global_step).toBe(9);
    expect(steps.map((s) => s.moved)).toEqual([true, true, false, true, true, true, true, true, false]);
    expect(steps.map((s) => s.lr)).toEqual([0.001, 0.001, 0.001, 0.001, 0.0005, 0.0005, 0.0005, 0.001, 0.001]);
    const { metrics, decisions } = guardedRecords(dir);
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(decisions.map((d) => [d.action, d.step])).toEqual([["skip", 3], ["reduce-lr", 5], ["halt", 9]]);
    for (const m of metrics as unknown as { loss: number; gradNorm: number; tokens: number }[]) {
      expect(m.loss).toBeGreaterThan(3); // ~ln 64 for a random tiny model
      expect(m.gradNorm).toBeGreaterThan(0);
    }
    // Tokens of the steps that ran (the skipped one too; the halted one never ran): 8 x 4 sequences x 17.
    expect((metrics.at(-2) as unknown as { tokens: number }).tokens).toBe(8 * 4 * 17);
  });

  it("drift watches Hugging Face's Trainer mid-training an exported mtx model: it measures the loop's checkpoints against --base hf:DIR and halts the forgetting", async () => {
    const dir = tempDir("mtx-guard-drift-");
    const exported = join(dir, "base-hf");
    expect(spawnSync(process.execPath, [BIN, "export", "--checkpoint", "bundled", "--format", "hf", "--out", exported]).status).toBe(0);
    const guard = await startGuard(dir, [{ name: "drift", options: { every: 5, lag: 2, batches: 1 } }], ["--base", `hf:${exported}`]);
    const out = python([join(ROOT, "test", "fixtures", "python", "hf_drift.py"), guard.address, exported, join(dir, "hf")], {});
    expect(await guard.exited, guard.stderr()).toBe(3);
    // Step 5's measurement finds no checkpoint yet; step 10's measures checkpoint-5 and acts at 12.
    expect(JSON.parse(out.trim().split("\n").at(-1)!).global_step).toBe(12);
    const { metrics, decisions, summary } = guardedRecords(dir);
    const drift = (metrics as unknown as { step: number; driftBpb?: number; driftBaseBpb?: number; arrivedAtStep?: number }[]).filter((m) => m.driftBpb !== undefined);
    expect(drift.map((m) => [m.step, m.arrivedAtStep])).toEqual([[5, 12]]);
    expect(drift[0]!.driftBaseBpb).toBeGreaterThan(1.5);
    expect(drift[0]!.driftBpb! / drift[0]!.driftBaseBpb!).toBeGreaterThan(1.05); // narrow text at LR 1e-2 forgets
    expect(decisions.filter((d) => d.action !== "checkpoint").map((d) => [d.action, d.plugin, d.step])).toEqual([["halt", "drift", 12]]);
    expect(summary).toMatchObject({ status: "halted", exitCode: 3, halt: { plugin: "drift" }, tokens: 12 * 8 * 64 });
  });

  it("answers a bad report with 400 and a JSON error, and keeps serving", async () => {
    const dir = tempDir("mtx-guard-bad-");
    const guard = await startGuard(dir);
    const post = (path: string, body: string) => fetch(guard.address + path, { method: "POST", headers: { "content-type": "application/json" }, body });
    const bad = await post("/v1/step", "{ not json");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/JSON/i);
    const missing = await post("/v1/step", JSON.stringify({ step: 1, loss: 3 }));
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toMatch(/gradNorm/);
    const ok = await post("/v1/step", JSON.stringify({ step: 1, loss: 3, gradNorm: 1, lr: 0.001 }));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ action: "continue", lrScale: 1 });
    await post("/v1/finish", "{}");
    expect(await guard.exited).toBe(0);
  });
});

/**
 * The PyTorch engine against the TensorFlow.js one and against its promises: the same losses (the bundled
 * base's first batch within 1e-4 relative, 20 steps from scratch within 1e-3), DDP and FSDP over 2 processes
 * within 1e-4 of one process, bitwise determinism and a bitwise resume after SIGKILL, every verdict and
 * fault carried out, the declared loss terms, checkpoints that tfjs and `mtx gate` read, a rank that dies
 * (exit 6, nothing half-written, --resume), and a missing torch (exit 2 with the install lines).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadCheckpoint } from "../../core/checkpoint/Checkpoint.js";
import { mtx, mtxAsync, PYTHON, ROOT, tempDir, tinyConfig, TORCH_PACKAGE } from "../helpers/cli.js";
import { readJsonl } from "../helpers/trainer.js";

const BLOCK = join(ROOT, "test", "fixtures", "plugins", "block-at.js");
const VERDICTS = join(ROOT, "test", "fixtures", "plugins", "verdicts-at.js");

type Line = { step: number; loss: number; totalLoss: number; gradNorm: number; updateNorm: number; lr: number; skipped: boolean; terms: Record<string, number> };
const metricsOf = (run: string) => readJsonl<Line>(join(run, "metrics.jsonl")).filter((m) => !(m as unknown as { late?: boolean }).late);

function config(dir: string, extra: Record<string, unknown> = {}): string {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(tinyConfig({ checkpoint: { every: 5, keepLast: 10 }, ...extra })));
  return file;
}

function train(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = mtx(["train", ...args], opts);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/** The default architecture (llama) with 2 key/value heads for 4 query heads. */
const GQA = { dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, contextLength: 32 };

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

async function until(cond: () => boolean, timeoutMs = 90_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the PyTorch engine", () => {
  let dir = "";
  let tfjs: Line[] = [];
  beforeAll(() => {
    dir = tempDir("mtx-torch-");
    train(["--config", config(dir, { steps: 20, model: GQA }), "--out", join(dir, "tfjs")]);
    tfjs = metricsOf(join(dir, "tfjs"));
  });

  it("computes the bundled base's loss on the same batch as the tfjs engine, within 1e-4 relative", () => {
    const runs = ["tfjs", "torch"].map((engine) => {
      const out = join(dir, `base-${engine}`);
      train(["--steps", "1", "--out", out, "--engine", engine]);
      return metricsOf(out)[0]!;
    });
    expect(runs[1]!.loss).toBeGreaterThan(3);
    expect(rel(runs[1]!.loss, runs[0]!.loss)).toBeLessThan(1e-4);
    expect(rel(runs[1]!.gradNorm, runs[0]!.gradNorm)).toBeLessThan(1e-3);
  });

  it("trains 20 steps from the same init as the tfjs engine (llama, grouped-query attention), within 1e-3; bitwise the same twice", () => {
    const a = join(dir, "torch-a");
    const b = join(dir, "torch-b");
    const cfg = config(dir, { steps: 20, model: GQA });
    train(["--config", cfg, "--out", a, "--engine", "torch"]);
    train(["--config", cfg, "--out", b, "--engine", "torch"]);
    const torch = metricsOf(a);
    expect(torch).toHaveLength(20);
    torch.forEach((m, i) => expect(rel(m.loss, tfjs[i]!.loss), `step ${i + 1}`).toBeLessThan(1e-3));
    expect(metricsOf(b).map((m) => m.loss)).toEqual(torch.map((m) => m.loss));
    // Either engine reads the other's checkpoint: the same tensors, names and layout.
    const fromTorch = loadCheckpoint(join(a, "checkpoints", "step-20"));
    const fromTfjs = loadCheckpoint(join(dir, "tfjs", "checkpoints", "step-20"));
    expect([...fromTorch.weights.keys()].sort()).toEqual([...fromTfjs.weights.keys()].sort());
    expect(fromTorch.optimizer!.step).toBe(20);
    const summary = JSON.parse(readFileSync(join(a, "summary.json"), "utf8"));
    expect(summary.engine).toMatch(/^torch: PyTorch 2\.\d+.* on cpu, 1 process/);
  });

  it("trains low-rank adapters from a checkpoint without them as the tfjs engine does, within 1e-4; writes them in adapters.safetensors", () => {
    const from = join(dir, "tfjs", "checkpoints", "step-20");
    const cfg = config(dir, { steps: 4, model: GQA });
    const lora = ["--from", from, "--lora-rank", "2", "--lora-targets", "*.attn.wq,*.mlp.down"];
    train(["--config", cfg, "--out", join(dir, "lora-tfjs"), ...lora]);
    train(["--config", cfg, "--out", join(dir, "lora-torch"), "--engine", "torch", ...lora]);
    const [t, p] = [metricsOf(join(dir, "lora-tfjs")), metricsOf(join(dir, "lora-torch"))];
    expect(p).toHaveLength(4);
    p.forEach((m, i) => expect(rel(m.loss, t[i]!.loss), `step ${i + 1}`).toBeLessThan(1e-4));
    const adapters = (run: string) => [...loadCheckpoint(join(dir, run, "checkpoints", "step-4")).weights.keys()].filter((n) => n.includes(".lora_")).sort();
    expect(adapters("lora-torch")).toHaveLength(8);
    expect(adapters("lora-torch")).toEqual(adapters("lora-tfjs"));
    expect(existsSync(join(dir, "lora-torch", "checkpoints", "step-4", "adapters.safetensors"))).toBe(true);
  });

  it("runs DDP and FSDP over 2 processes within 1e-4 of one process", () => {
    const cfg = config(dir, { steps: 6 });
    const one = join(dir, "one");
    train(["--config", cfg, "--out", one, "--engine", "torch"]);
    for (const strategy of ["ddp", "fsdp"]) {
      const out = join(dir, strategy);
      train(["--config", cfg, "--out", out, "--engine", "torch", "--nproc", "2", "--strategy", strategy]);
      const m = metricsOf(out);
      expect(m).toHaveLength(6);
      m.forEach((x, i) => expect(rel(x.loss, metricsOf(one)[i]!.loss), `${strategy} step ${i + 1}`).toBeLessThan(1e-4));
      const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
      expect(summary.engine).toMatch(new RegExp(`2 processes \\(${strategy}\\)`));
      // Peak memory of mtx and of each rank (torch alone takes well over 100 MB).
      expect(summary.peakMemory.map((p: { process: string }) => p.process)).toEqual(["mtx (node)", "torch rank 0", "torch rank 1"]);
      for (const p of summary.peakMemory) expect(p.peakRssMb).toBeGreaterThan(100);
      expect(loadCheckpoint(join(out, "checkpoints", "step-5")).optimizer!.m.size).toBeGreaterThan(0);
    }
  });

  it("resumes bitwise after SIGKILL", async () => {
    const straight = join(dir, "straight");
    const base = { steps: 12 };
    const marker = join(dir, "k-at");
    const release = join(dir, "k-release");
    const plugins = [{ name: BLOCK, options: { step: 7, marker, release } }];
    const cfg = config(dir, { ...base, plugins });
    writeFileSync(release, "");
    train(["--config", cfg, "--out", straight, "--engine", "torch"]);
    rmRelease(release);
    rmRelease(marker);
    const killed = join(dir, "killed");
    const { child, done } = mtxAsync(["train", "--config", cfg, "--out", killed, "--engine", "torch"]);
    await until(() => existsSync(marker));
    child.kill("SIGKILL");
    expect((await done).signal).toBe("SIGKILL");
    writeFileSync(release, "");
    train(["--out", killed, "--resume"]);
    expect(metricsOf(killed).map((m) => m.loss)).toEqual(metricsOf(straight).map((m) => m.loss));
  });

  it("carries out every verdict and fault", () => {
    const out = join(dir, "verdicts");
    const plugins = [{ name: VERDICTS, options: { skip: [3], cut: { at: 5, factor: 0.5, steps: 2 }, halt: 11 } }];
    const r = mtx(["train", "--config", config(dir, { steps: 14, schedule: { type: "constant", peakLr: 0.002, warmupSteps: 0 }, plugins, inject: ["lr-spike@8:x10:1", "bad-batch@9", "weight-noise@10:0.5"] }), "--out", out, "--engine", "torch"]);
    expect(r.code, r.stderr).toBe(3);
    const m = metricsOf(out);
    expect(m.map((x) => x.lr)).toEqual([0.002, 0.002, 0.002, 0.002, 0.001, 0.001, 0.002, 0.02, 0.002, 0.002, 0.002]);
    expect(m[2]).toMatchObject({ skipped: true, updateNorm: 0 });
    expect(m[3]!.updateNorm).toBeGreaterThan(0);
    const d = readJsonl<{ action: string; step: number; fault?: string }>(join(out, "decisions.jsonl"));
    expect(d.filter((x) => x.action === "inject").map((x) => x.fault)).toEqual(["lr-spike@8:x10", "bad-batch@9", "weight-noise@10:0.5"]);
    expect(d.filter((x) => ["skip", "reduce-lr", "halt"].includes(x.action)).map((x) => [x.action, x.step])).toEqual([["skip", 3], ["reduce-lr", 5], ["halt", 11]]);
    expect(loadCheckpoint(join(out, "checkpoints", "step-11")).state.tag).toBe("halted");

    // A rollback to the last good checkpoint continues the same curve (the data replays exactly).
    const rolled = join(dir, "rolled");
    const rb = join(dir, "rollback.js");
    writeFileSync(rb, 'let done = false; export default { name: "rb", apply(t) { t.hooks.shouldHalt.tap("rb", (c) => (c.step === 8 && !done ? ((done = true), { action: "rollback", plugin: "rb", reason: "test rollback" }) : undefined)); } };\n');
    const ten = config(dir, { steps: 10 });
    train(["--config", ten, "--plugins", rb, "--out", rolled, "--engine", "torch"]);
    train(["--config", ten, "--out", join(dir, "ten"), "--engine", "torch"]);
    expect(readJsonl<{ action: string; outcome: string }>(join(rolled, "decisions.jsonl")).find((x) => x.action === "rollback")!.outcome).toMatch(/rolled back to step 5/);
    expect(metricsOf(rolled)).toHaveLength(10);
    expect(metricsOf(rolled).map((x) => x.loss)).toEqual(metricsOf(join(dir, "ten")).map((x) => x.loss));

    const nan = mtx(["train", "--config", config(dir, { steps: 5, inject: ["nan@3"] }), "--out", join(dir, "nan"), "--engine", "torch"]);
    expect(nan.code).toBe(3);
    expect(nan.stderr).toMatch(/non-finite total loss \(NaN\) at step 3/);
  });

  it("computes the declared loss terms as the tfjs engine does (agentic's masked NLL, contrastive's InfoNCE) and runs irl", () => {
    const plugins = ["contrastive", { name: "agentic", options: { share: 0.5, start: 1, rampSteps: 0, failureShare: 0 } }];
    const runs = ["tfjs", "torch"].map((engine) => {
      const out = join(dir, `terms-${engine}`);
      train(["--config", config(dir, { steps: 4, plugins }), "--out", out, "--engine", engine]);
      return metricsOf(out);
    });
    expect(runs[1]).toHaveLength(4);
    runs[1]!.forEach((m, i) => {
      expect(m.terms.contrastive).toBeGreaterThan(0);
      expect(m.terms.outcome).toBeGreaterThan(0);
      expect(rel(m.terms.contrastive!, runs[0]![i]!.terms.contrastive!)).toBeLessThan(1e-3);
      expect(rel(m.terms.outcome!, runs[0]![i]!.terms.outcome!)).toBeLessThan(1e-3);
      expect(rel(m.totalLoss, runs[0]![i]!.totalLoss)).toBeLessThan(1e-3);
    });
    const irl = join(dir, "irl");
    train(["--config", config(dir, { steps: 4, plugins: [{ name: "irl", options: { every: 2, prompts: 2, k: 3, maxTokens: 8, klWeight: 0.1, reference: join(dir, "tfjs", "checkpoints", "step-20") } }] }), "--out", irl, "--engine", "torch"]);
    const m = metricsOf(irl) as unknown as Record<string, number>[];
    expect(m.map((x) => (x as unknown as Line).terms.irl !== undefined)).toEqual([false, true, false, true]);
    expect(m[1]!["irl.kl"]).toBeGreaterThanOrEqual(0);
    expect(m[1]!["irl.flops"]).toBeGreaterThan(0);
  });

  it("joins ranks started by someone else (engine.launch external, as on many machines)", async () => {
    const out = join(dir, "external");
    const socket = join(dir, "engine.sock");
    const cfg = config(dir, { steps: 6, engine: { type: "torch", launch: "external" } });
    const { done } = mtxAsync(["train", "--config", cfg, "--out", out], { env: { MTX_ENGINE_SOCKET: socket } });
    await until(() => existsSync(socket));
    const ranks = spawn(PYTHON, ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "mtx_torch.engine", "--connect", socket], { env: { ...process.env, PYTHONPATH: TORCH_PACKAGE }, stdio: "ignore" });
    const ranksDone = new Promise<number | null>((resolve) => ranks.once("exit", resolve));
    const r = await done;
    expect(await ranksDone).toBe(0);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/waiting for the engine's ranks: start them with torchrun on every node/);
    expect(JSON.parse(readFileSync(join(out, "summary.json"), "utf8")).engine).toMatch(/2 processes \(ddp\)/);
    const one = metricsOf(join(dir, "one")); // the same config on one process (the DDP test)
    expect(metricsOf(out)).toHaveLength(6);
    metricsOf(out).forEach((m, i) => expect(rel(m.loss, one[i]!.loss)).toBeLessThan(1e-4));
  });

  it("writes checkpoints that mtx gate and the probes read", () => {
    const ckpt = join(dir, "torch-a", "checkpoints", "step-20");
    const suite = join(dir, "suite.json");
    writeFileSync(suite, JSON.stringify({ name: "tiny", probes: [{ probe: "heldout", params: { seqLen: 32, sequencesPerSource: 2, recipe: join(ROOT, "test", "fixtures", "tiny-recipe.json") }, gates: [{ metric: "bpb", maxRelative: 0.02 }] }] }));
    const r = mtx(["gate", "--suite", suite, "--checkpoint", ckpt, "--baseline", join(dir, "tfjs", "checkpoints", "step-20"), "--workers", "1"]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/all gates passed/);
  });

  it("a rank that dies ends the run with exit 6 and no half-written checkpoint; --resume continues", async () => {
    const out = join(dir, "dead");
    const marker = join(dir, "d-at");
    const release = join(dir, "d-release");
    const cfg = config(dir, { steps: 12, plugins: [{ name: BLOCK, options: { step: 7, marker, release } }] });
    const { child, done } = mtxAsync(["train", "--config", cfg, "--out", out, "--engine", "torch", "--nproc", "2"]);
    await until(() => existsSync(marker));
    // The ranks are the children of torchrun, itself the child of mtx: kill rank 1 outright.
    const ranks = descendants(child.pid!).filter((p) => /mtx_torch\.engine/.test(p.args) && !/torch\.distributed\.run/.test(p.args));
    expect(ranks.length).toBe(2);
    process.kill(ranks.at(-1)!.pid, "SIGKILL");
    writeFileSync(release, "");
    const r = await done;
    expect(r.code, r.stderr).toBe(6);
    expect(r.stderr).toMatch(/the PyTorch engine (exited|closed its connection|did not answer)/);
    expect(r.stderr).toMatch(/continue with --resume/);
    const ckpts = readdirSync(join(out, "checkpoints"));
    expect(ckpts.filter((n) => n.startsWith("."))).toEqual([]);
    expect(ckpts).toEqual(["step-5"]);
    expect(JSON.parse(readFileSync(join(out, "summary.json"), "utf8"))).toMatchObject({ status: "failed", exitCode: 6 });
    train(["--out", out, "--resume"]);
    expect(metricsOf(out).map((m) => m.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it("refuses a Python without torch with exit 2 and the install lines", () => {
    const r = mtx(["train", "--config", config(dir, { steps: 1 }), "--out", join(dir, "no-torch"), "--engine", "torch"], { env: { MTX_PYTHON: "python3" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the PyTorch engine needs torch >= 2\.1, and python3 cannot import it/);
    expect(r.stderr).toMatch(/apt-get install python3 python3-venv/);
    expect(r.stderr).toMatch(/pip install 'torch>=2\.1'/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

function rmRelease(path: string): void {
  execFileSync("rm", ["-f", path]);
}

/** Every process under `pid` with its command line. */
function descendants(pid: number): { pid: number; args: string }[] {
  const ps = spawnSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map((l) => {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l)!;
    return { pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! };
  });
  const out: { pid: number; args: string }[] = [];
  const walk = (p: number) => {
    for (const c of ps.filter((x) => x.ppid === p)) {
      out.push({ pid: c.pid, args: c.args });
      walk(c.pid);
    }
  };
  walk(pid);
  return out;
}

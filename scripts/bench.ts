/**
 * `npm run bench`: training throughput of mtx next to the PyTorch peer (shared/peers/torch_gpt.py) on the
 * same model config, measured side by side in one run; prints a table and writes bench/results.json.
 * Machines here are shared and noisy: compare the ratio, not the absolute numbers.
 *
 * mtx is timed through the real Trainer (data, hooks, AdamW, metrics) on random-init weights; the peer
 * times its own step on fixed random tokens. The harness overhead compares the mean step time of the
 * default mid-training run with `drift,spike` on and off, over --overhead-steps steps (default 70, so
 * the drift probe runs once in its worker), and the ci probe suite's wall time with 1 and 2 worker
 * threads (each measured twice in alternating order, means compared), checkpoint save/load time against
 * size, and peak memory. Each config runs on the plain wasm kernels (when the native ones are built, as the
 * baseline they are measured against), then with the native kernels on one replica (their threads on
 * every core) and on 2 data-parallel replicas (a core each). The PyTorch engine's figures (harness cost
 * against the peer, 2 DDP processes, a 155 M-parameter model) come from bench-torch.ts; the peer runs on
 * the engine's torch (mtx's virtual environment), 2 threads, its best setting on 2 cores.
 * Options: --steps N (timed steps, default 12), --overhead-steps N, --big-steps N, --throughput-only
 * (the throughput tables only), --torch-only (the PyTorch engine's figures only), --serve-only (the
 * `mtx serve` load test only: 500 requests, 16 at a time, on loopback; bench-serve.ts).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateConfig } from "../core/config/loadConfig.js";
import type { StepMetrics } from "../core/hooks.js";
import { initBackend } from "../core/backend.js";
import { nativeStatus, useNativeKernels } from "../core/native/kernels.js";
import { loadCheckpoint, saveCheckpoint, type CheckpointState } from "../core/checkpoint/Checkpoint.js";
import { Transformer } from "../core/model/Transformer.js";
import { createRng } from "../core/rng.js";
import { BUNDLED_BASE, PACKAGE_ROOT, PROBE_WORKER } from "../core/paths.js";
import { PiscinaProbePool } from "../core/pool/PiscinaProbePool.js";
import { runSuite } from "../core/suite/runSuite.js";
import { loadSuite } from "../core/suite/suite.js";
import { resolveProbe } from "../probes/resolve.js";
import { Trainer } from "../core/Trainer.js";
import type { MtxPlugin } from "../core/plugin.js";
import { resolvePlugins } from "../plugins/registry.js";
import { benchServe, printServe } from "./bench-serve.js";
import { benchTorch, enginePython, modelConfig, mtxLoop, printTorch, shapeLabel, torchPeer, type LoopResult, type PeerResult, type Shape } from "./bench-torch.js";

const CONFIGS: Shape[] = [
  { name: "default", dModel: 128, nLayers: 4, nHeads: 4, seqLen: 128, batch: 8, vocab: 2048 },
  { name: "larger", dModel: 256, nLayers: 6, nHeads: 8, seqLen: 256, batch: 8, vocab: 2048 },
];
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const timedSteps = Number(arg("steps", "12"));
const throughputOnly = process.argv.includes("--throughput-only");
const torchOnly = process.argv.includes("--torch-only");
const serveOnly = process.argv.includes("--serve-only");
if (serveOnly) {
  const s = await benchServe({ requests: 500, concurrency: 16, maxTokens: 16 });
  printServe(s);
  process.exit(0);
}
const warmup = 3;

/** Mean step time (ms) of the default run from the bundled base with the given plugins. */
async function stepTime(plugins: MtxPlugin[], steps: number): Promise<number> {
  const out = mkdtempSync(join(tmpdir(), "mtx-bench-"));
  const config = validateConfig({ steps, out, eval: { every: 0, batches: 1 }, checkpoint: { every: 0 } });
  await new Trainer(config, plugins).train();
  const metrics = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as StepMetrics);
  const timed = metrics.slice(warmup);
  return timed.reduce((a, m) => a + m.stepTimeMs, 0) / timed.length;
}

const rows: Record<string, unknown>[] = [];
await initBackend("auto");
const native = nativeStatus();
const py = enginePython();
for (const c of torchOnly ? [] : CONFIGS) {
  const label = shapeLabel(c);
  // The plain wasm kernels first (the native ones off), as the baseline the native kernels are measured against.
  let plain: LoopResult | undefined;
  if (native.active) {
    process.stderr.write(`bench ${c.name} (${label}): mtx, plain wasm kernels...\n`);
    useNativeKernels(false);
    plain = await mtxLoop(c, { warmup, steps: timedSteps });
    useNativeKernels(true);
  }
  process.stderr.write(`bench ${c.name} (${label}): mtx, 1 replica (native kernels on every core)...\n`);
  const m1 = await mtxLoop(c, { warmup, steps: timedSteps });
  process.stderr.write(`bench ${c.name} (${label}): mtx, 2 data-parallel replicas (a core each)...\n`);
  const m2 = await mtxLoop(c, { warmup, steps: timedSteps, parallel: { threads: 2 } });
  process.stderr.write(`bench ${c.name} (${label}): PyTorch peer...\n`);
  const p: PeerResult = "python" in py ? torchPeer(py.python, c, { steps: timedSteps, threads: 2 }) : py;
  const peer = "tokPerS" in p ? p.tokPerS : null;
  rows.push({
    config: c.name,
    shape: label,
    mtxBackend: m1.engine,
    plainWasmTokPerS: plain ? Math.round(plain.tokPerS) : null,
    plainWasmGflops: plain ? +plain.gflops.toFixed(2) : null,
    nativeSpeedup: plain ? +(m1.tokPerS / plain.tokPerS).toFixed(2) : null,
    kernels: m2.kernels,
    mtxTokPerS: Math.round(m1.tokPerS),
    mtxGflops: +m1.gflops.toFixed(2),
    mtxPeakRssMb: m1.peakMemory[0]?.peakRssMb,
    mtx2TokPerS: Math.round(m2.tokPerS),
    mtx2Gflops: +m2.gflops.toFixed(2),
    mtx2PeakRssMb: m2.peakMemory[0]?.peakRssMb,
    peerTokPerS: peer,
    peerGflops: "gflops" in p ? +p.gflops.toFixed(2) : null,
    peer: "tokPerS" in p ? `torch ${p.torch}, ${p.threads} threads` : p.unavailable,
    ratio: peer ? +(m1.tokPerS / peer).toFixed(3) : null,
    ratio2: peer ? +(m2.tokPerS / peer).toFixed(3) : null,
  });
}

const line = (cells: string[], widths: number[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 10)).join(" ");
const w = [9, 29, 17, 17, 17, 17, 9, 9];
function printThroughput(): void {
  console.log(line(["config", "shape", "plain wasm", "mtx 1 replica", "mtx 2 replicas", "PyTorch peer", "ratio 1r", "ratio 2r"], w));
  console.log(line(["", "", "tok/s (GFLOP/s)", "tok/s (GFLOP/s)", "tok/s (GFLOP/s)", "tok/s (GFLOP/s)", "mtx/peer", "mtx/peer"], w));
  for (const r of rows) {
    const plainCell = r.plainWasmTokPerS ? `${r.plainWasmTokPerS} (${r.plainWasmGflops})` : "n/a";
    console.log(line([String(r.config), String(r.shape), plainCell, `${r.mtxTokPerS} (${r.mtxGflops})`, `${r.mtx2TokPerS} (${r.mtx2Gflops})`, r.peerTokPerS ? `${r.peerTokPerS} (${r.peerGflops})` : "n/a", String(r.ratio ?? "n/a"), String(r.ratio2 ?? "n/a")], w));
  }
  for (const r of rows) console.log(`  ${r.config}: mtx on ${r.mtxBackend}, peak RSS ${r.mtxPeakRssMb} MB (1 replica) / ${r.mtx2PeakRssMb} MB (2 replicas); native kernels ${r.nativeSpeedup ? `${r.nativeSpeedup}x plain wasm` : `off (${native.reason})`}; peer: ${r.peer}`);
}
const torch = await benchTorch(CONFIGS, { warmup, steps: timedSteps, bigSteps: Number(arg("big-steps", "4")), rounds: 2 });
if (throughputOnly || torchOnly) {
  if (!torchOnly) printThroughput();
  printTorch(torch);
  process.exit(0);
}

// Checkpoint save and load time against size (weights + AdamW moments in F32), per config.
const checkpointRows: Record<string, unknown>[] = [];
for (const c of CONFIGS) {
  const cfg = modelConfig(c);
  const model = Transformer.init(cfg, createRng(1, "bench"));
  const weights = model.getWeights();
  const zeros = new Map([...weights].map(([k, w]) => [k, new Float32Array(w.length)]));
  model.dispose();
  const root = mkdtempSync(join(tmpdir(), "mtx-bench-ckpt-"));
  const state = { format: "mtx-checkpoint/1", step: 1, tokens: 0, flops: 0, lr: 0, model: cfg, tag: "good", hasOptimizer: true, optimizerStep: 1, rng: {}, dataCursor: null, plugins: {}, trainer: {}, config: {}, backend: "bench", versions: {}, createdAt: new Date().toISOString() } as unknown as CheckpointState;
  const t0 = performance.now();
  const dir = saveCheckpoint(root, { state, weights, optimizer: { step: 1, m: zeros, v: zeros }, tokenizerJson: {} });
  const saveMs = performance.now() - t0;
  const t1 = performance.now();
  loadCheckpoint(dir);
  const loadMs = performance.now() - t1;
  const bytes = readdirSync(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
  checkpointRows.push({ config: c.name, megabytes: +(bytes / 2 ** 20).toFixed(1), saveMs: Math.round(saveMs), loadMs: Math.round(loadMs), saveMBps: Math.round(bytes / 2 ** 20 / (saveMs / 1000)), loadMBps: Math.round(bytes / 2 ** 20 / (loadMs / 1000)) });
}

// Harness overhead and probe-suite time: each measured twice in alternating order (off, on, off, on), and
// the means compared, so that a first run's warm-up does not land on one side.
const overheadSteps = Number(arg("overhead-steps", "70"));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const offRuns: number[] = [];
const onRuns: number[] = [];
for (let i = 0; i < 2; i++) {
  process.stderr.write(`harness overhead (${i + 1}/2): ${overheadSteps} steps without plugins, then with drift,spike...\n`);
  offRuns.push(await stepTime([], overheadSteps));
  onRuns.push(await stepTime((await resolvePlugins(["drift", "spike"])).map((r) => r.plugin), overheadSteps));
}
const overhead = {
  steps: overheadSteps,
  stepMsOff: +mean(offRuns).toFixed(1),
  stepMsOn: +mean(onRuns).toFixed(1),
  ratio: +(mean(onRuns) / mean(offRuns)).toFixed(4),
  runsOff: offRuns.map((x) => +x.toFixed(1)),
  runsOn: onRuns.map((x) => +x.toFixed(1)),
};

// Probe suite wall time with 1 and 2 worker threads (the ci suite on the base against itself).
const suiteRuns: Record<string, number[]> = { workers1: [], workers2: [] };
for (let i = 0; i < 2; i++) {
  for (const workers of [1, 2]) {
    process.stderr.write(`probe suite ci with ${workers} worker(s) (${i + 1}/2)...\n`);
    const suite = await loadSuite("ci", resolveProbe);
    const pool = new PiscinaProbePool(PROBE_WORKER, { threads: workers });
    const t0 = performance.now();
    await runSuite(suite, pool, { kind: "checkpoint", dir: BUNDLED_BASE }, { kind: "checkpoint", dir: BUNDLED_BASE });
    suiteRuns[`workers${workers}`]!.push((performance.now() - t0) / 1000);
    await pool.close();
  }
}
const suiteTimes: Record<string, number> = { workers1: +mean(suiteRuns.workers1!).toFixed(1), workers2: +mean(suiteRuns.workers2!).toFixed(1) };

process.stderr.write("mtx serve: 500 requests, 16 at a time, on loopback...\n");
const serve = await benchServe({ requests: 500, concurrency: 16, maxTokens: 16 });

printThroughput();
printTorch(torch);
printServe(serve);
for (const c of checkpointRows) console.log(`checkpoint ${c.config}: ${c.megabytes} MB saved in ${c.saveMs} ms (${c.saveMBps} MB/s), loaded and verified in ${c.loadMs} ms (${c.loadMBps} MB/s)`);
console.log(`probe suite ci (base vs itself): ${suiteTimes.workers1} s with 1 worker, ${suiteTimes.workers2} s with 2 workers (speed-up ${(suiteTimes.workers1! / suiteTimes.workers2!).toFixed(2)}x)`);
console.log(`harness overhead (default run, ${overhead.steps} steps): step ${overhead.stepMsOff} ms without plugins, ${overhead.stepMsOn} ms with drift,spike: ratio ${overhead.ratio} (${((overhead.ratio - 1) * 100).toFixed(1)}%)`);
mkdirSync(join(PACKAGE_ROOT, "bench"), { recursive: true });
writeFileSync(join(PACKAGE_ROOT, "bench", "results.json"), JSON.stringify({ date: new Date().toISOString(), timedSteps, rows, torch, serve, overhead, probeSuiteSeconds: suiteTimes, probeSuiteRuns: suiteRuns, checkpoints: checkpointRows }, null, 2) + "\n");
console.log(`wrote bench/results.json`);

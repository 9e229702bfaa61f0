/**
 * The PyTorch engine's part of `npm run bench`, side by side in one run:
 *  - its tokens/s through mtx's real loop (data, hooks, AdamW with clipping, metrics, a Unix-socket round
 *    trip per request) against the plain PyTorch peer loop (shared/peers/torch_gpt.py) on the same shape
 *    and the same torch: the harness's cost;
 *  - 2 DDP processes (torchrun, gloo, a core each) on the same shape;
 *  - a model the wasm engine cannot hold (D1024 L12, 155 M parameters) training on the torch engine, with
 *    the peak resident memory of every process, next to the TensorFlow.js engine's refusal of it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { validateConfig } from "../core/config/loadConfig.js";
import type { ModelConfig } from "../core/config/types.js";
import { checkWasmFits } from "../core/engine/tfjs/TfjsEngine.js";
import { resolvePython } from "../core/engine/torch/python.js";
import { describeError } from "../core/errors.js";
import type { StepMetrics } from "../core/hooks.js";
import { trainingMemory } from "../core/model/memory.js";
import { trainFlopsPerToken } from "../core/model/Transformer.js";
import { PACKAGE_ROOT } from "../core/paths.js";
import type { ProcessMemory } from "../core/engine/Engine.js";
import { Trainer } from "../core/Trainer.js";

export interface Shape {
  name: string;
  dModel: number;
  nLayers: number;
  nHeads: number;
  seqLen: number;
  batch: number;
  vocab: number;
}

export const shapeLabel = (c: Shape) => `V${c.vocab} D${c.dModel} L${c.nLayers} H${c.nHeads} T${c.seqLen} B${c.batch}`;

export function modelConfig(c: Shape): ModelConfig {
  return { arch: "gelu", vocabSize: c.vocab, dModel: c.dModel, nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nHeads, intermediate: 4 * c.dModel, contextLength: c.seqLen, ropeBase: 1e4, qkNorm: false, zLoss: 0, tiedEmbeddings: false, normEps: 1e-5, initStd: 0.02 };
}

export interface LoopResult {
  engine: string;
  kernels?: Record<string, string | number>;
  stepMeanMs: number;
  tokPerS: number;
  gflops: number;
  peakMemory: ProcessMemory[];
}

/** Tokens/s of mtx's own loop on `c` from random init: the mean step time after `warmup` steps. */
export async function mtxLoop(c: Shape, o: { warmup: number; steps: number; engine?: Record<string, unknown>; parallel?: Record<string, unknown> }): Promise<LoopResult> {
  const out = mkdtempSync(join(tmpdir(), "mtx-bench-"));
  try {
    const config = validateConfig({
      from: null,
      backend: "auto",
      steps: o.warmup + o.steps,
      out,
      // The peer's architecture (4x tanh-GELU MLP), so the comparison is like for like.
      model: { arch: "gelu", dModel: c.dModel, nLayers: c.nLayers, nHeads: c.nHeads, contextLength: c.seqLen },
      data: { batchSize: c.batch },
      eval: { every: 0, batches: 1 },
      checkpoint: { every: 0 },
      ...(o.engine ? { engine: o.engine } : {}),
      ...(o.parallel ? { parallel: o.parallel } : {}),
    });
    const summary = await new Trainer(config, []).train();
    const metrics = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as StepMetrics);
    const timed = metrics.slice(o.warmup);
    const meanMs = timed.reduce((a, m) => a + m.stepTimeMs, 0) / timed.length;
    const tokens = c.batch * c.seqLen;
    const flopsPerStep = tokens * trainFlopsPerToken(modelConfig(c), c.seqLen);
    return { engine: summary.engine, kernels: summary.kernels, stepMeanMs: meanMs, tokPerS: tokens / (meanMs / 1000), gflops: flopsPerStep / (meanMs / 1000) / 1e9, peakMemory: summary.peakMemory ?? [] };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export type PeerResult = { tokPerS: number; gflops: number; torch: string; threads: number } | { unavailable: string };

/** The plain PyTorch peer loop on `c`, on the given interpreter and torch thread count. */
export function torchPeer(python: string, c: Shape, o: { steps: number; threads: number; env?: Record<string, string> }): PeerResult {
  const script = resolve(PACKAGE_ROOT, "..", "shared", "peers", "torch_gpt.py");
  if (!existsSync(script)) return { unavailable: `peer script not found at ${script}` };
  const args = [script, "--threads", String(o.threads), "--d", String(c.dModel), "--layers", String(c.nLayers), "--heads", String(c.nHeads), "--seq", String(c.seqLen), "--batch", String(c.batch), "--vocab", String(c.vocab), "--steps", String(o.steps)];
  const r = spawnSync(python, args, { encoding: "utf8", env: { ...process.env, ...o.env } });
  if (r.status !== 0) return { unavailable: `peer failed: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()}` };
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as PeerResult;
}

/** The engine's interpreter (mtx's virtual environment, installed when missing), or why there is none. */
export function enginePython(): { python: string; torch: string } | { unavailable: string } {
  try {
    const p = resolvePython({ install: true, log: (l) => process.stderr.write(`${l}\n`) });
    return { python: p.python, torch: p.torch ?? "unknown" };
  } catch (error) {
    return { unavailable: describeError(error) };
  }
}

export const BIG: Shape = { name: "155M", dModel: 1024, nLayers: 12, nHeads: 16, seqLen: 256, batch: 4, vocab: 2048 };

export interface TorchBench {
  torch: string;
  rows: { shape: string; peerTokPerS: number | null; peerGflops: number | null; peerRuns: number[]; mtxTorchTokPerS: number; mtxTorchRuns: number[]; mtxTorchGflops: number; harnessRatio: number | null; ddp2TokPerS: number; ddp2Gflops: number; ddp2VsOne: number; peakMemory: ProcessMemory[]; ddp2PeakMemory: ProcessMemory[] }[];
  big: { shape: string; parameters: number; tfjs: string; torchTokPerS: number; torchGflops: number; stepMeanMs: number; peakMemory: ProcessMemory[]; peerTokPerS: number | null };
}

/** Every torch measurement, or why they could not be taken. */
export async function benchTorch(shapes: Shape[], o: { warmup: number; steps: number; bigSteps: number; rounds: number }): Promise<TorchBench | { unavailable: string }> {
  const py = enginePython();
  if ("unavailable" in py) return py;
  const rows: TorchBench["rows"] = [];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const c of shapes) {
    // Peer and mtx alternate, twice, and the means are compared: a noisy neighbour lands on both sides.
    const peers: number[] = [];
    const ones: LoopResult[] = [];
    let peer: PeerResult = { unavailable: "not run" };
    for (let round = 1; round <= o.rounds; round++) {
      process.stderr.write(`bench torch ${c.name} (${shapeLabel(c)}), round ${round}/${o.rounds}: PyTorch peer (${py.torch}, 2 threads), then mtx --engine torch...\n`);
      peer = torchPeer(py.python, c, { steps: o.steps, threads: 2 });
      if ("tokPerS" in peer) peers.push(peer.tokPerS);
      ones.push(await mtxLoop(c, { ...o, engine: { type: "torch", nproc: 1 } }));
    }
    process.stderr.write(`bench torch ${c.name}: mtx on the torch engine, 2 DDP processes...\n`);
    const two = await mtxLoop(c, { ...o, engine: { type: "torch", nproc: 2, strategy: "ddp" } });
    const peerTok = peers.length ? mean(peers) : null;
    const oneTok = mean(ones.map((r) => r.tokPerS));
    const flops = c.batch * c.seqLen * trainFlopsPerToken(modelConfig(c), c.seqLen);
    rows.push({
      shape: `${c.name} ${shapeLabel(c)}`,
      peerTokPerS: peerTok ? Math.round(peerTok) : null,
      peerGflops: peerTok ? +((flops / (c.batch * c.seqLen)) * peerTok / 1e9).toFixed(2) : null,
      peerRuns: peers,
      mtxTorchTokPerS: Math.round(oneTok),
      mtxTorchGflops: +((flops / (c.batch * c.seqLen)) * oneTok / 1e9).toFixed(2),
      mtxTorchRuns: ones.map((r) => Math.round(r.tokPerS)),
      harnessRatio: peerTok ? +(oneTok / peerTok).toFixed(3) : null,
      ddp2TokPerS: Math.round(two.tokPerS),
      ddp2Gflops: +two.gflops.toFixed(2),
      ddp2VsOne: +(two.tokPerS / oneTok).toFixed(3),
      peakMemory: ones[0]!.peakMemory,
      ddp2PeakMemory: two.peakMemory,
    });
  }
  let tfjs = "fits";
  try {
    checkWasmFits(modelConfig(BIG), BIG.batch);
  } catch (error) {
    tfjs = `refused at start: ${describeError(error)}`;
  }
  process.stderr.write(`bench torch ${BIG.name} (${shapeLabel(BIG)}): mtx on the torch engine...\n`);
  const big = await mtxLoop(BIG, { warmup: 1, steps: o.bigSteps, engine: { type: "torch", nproc: 1 } });
  // The peer warms up 3 steps (its default) before the timed ones.
  process.stderr.write(`bench torch ${BIG.name}: PyTorch peer...\n`);
  const bigPeer = torchPeer(py.python, BIG, { steps: o.bigSteps, threads: 2 });
  const parameters = trainingMemory(modelConfig(BIG), 1, 1).parameters;
  return {
    torch: py.torch,
    rows,
    big: { shape: shapeLabel(BIG), parameters, tfjs, torchTokPerS: Math.round(big.tokPerS), torchGflops: +big.gflops.toFixed(2), stepMeanMs: Math.round(big.stepMeanMs), peakMemory: big.peakMemory, peerTokPerS: "tokPerS" in bigPeer ? bigPeer.tokPerS : null },
  };
}

const mem = (m: ProcessMemory[]) => m.map((p) => `${p.process} ${p.peakRssMb} MB`).join(", ");

export function printTorch(t: TorchBench | { unavailable: string }): void {
  if ("unavailable" in t) {
    console.log(`torch engine: not measured (${t.unavailable})`);
    return;
  }
  console.log(`torch engine (torch ${t.torch}, CPU):`);
  for (const r of t.rows) {
    console.log(`  ${r.shape}: peer ${r.peerTokPerS ?? "n/a"} tok/s (${r.peerGflops ?? "n/a"} GFLOP/s; runs ${r.peerRuns.join(", ")}); mtx --engine torch ${r.mtxTorchTokPerS} tok/s (${r.mtxTorchGflops}; runs ${r.mtxTorchRuns.join(", ")}): ratio ${r.harnessRatio ?? "n/a"}; --nproc 2 DDP ${r.ddp2TokPerS} tok/s (${r.ddp2Gflops}): ${r.ddp2VsOne}x one process`);
    console.log(`    peak RSS: ${mem(r.peakMemory)}; DDP: ${mem(r.ddp2PeakMemory)}`);
  }
  const b = t.big;
  console.log(`  ${b.shape} (${(b.parameters / 1e6).toFixed(1)} M parameters): torch engine ${b.torchTokPerS} tok/s (${b.torchGflops} GFLOP/s, ${b.stepMeanMs} ms/step), peer ${b.peerTokPerS ?? "n/a"} tok/s; peak RSS ${mem(b.peakMemory)}`);
  console.log(`    tfjs engine: ${b.tfjs}`);
}

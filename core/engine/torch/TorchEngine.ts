/**
 * The PyTorch engine: the model, its gradients and AdamW moments in a torch process group started on
 * torchrun (DDP or FSDP; CPU with gloo, CUDA with nccl), driven over the mtx-engine/1 protocol
 * (TorchProcess.ts, core/torch/mtx_torch/engine.py). Checkpoints keep mtx's layout, so either engine loads
 * what the other wrote. A random init is made by mtx (the same seeded values as the tfjs engine's) and
 * handed to the engine as a checkpoint; probes and drift run in a separate eval process, off the step loop.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { writeCheckpointWith, type CheckpointState } from "../../checkpoint/Checkpoint.js";
import { writeSafetensorsFile } from "../../checkpoint/safetensors.js";
import type { EngineConfig, ModelConfig } from "../../config/types.js";
import type { Tokenizer } from "../../data/tokenizer/Tokenizer.js";
import { ConfigError } from "../../errors.js";
import { initialValues, parameterSpecs } from "../../model/Transformer.js";
import { PROBE_RUNNER } from "../../paths.js";
import { InProcessProbePool } from "../../pool/InProcessProbePool.js";
import type { ProbePool, ProbeTask } from "../../pool/ProbePool.js";
import { createRng } from "../../rng.js";
import { nodeMemory, type Engine, type EngineInfo, type EngineStart, type ProbeTarget, type ProcessMemory } from "../Engine.js";
import type { LanguageModel } from "../LanguageModel.js";
import type { BackwardResult, LossTerm, TokenRows, UpdateResult } from "../types.js";
import { resolvePython, type PythonInfo } from "./python.js";
import { TorchModel } from "./TorchModel.js";
import { TorchProcess } from "./TorchProcess.js";
import type { Buffers } from "./wire.js";

export interface TorchEngineOptions {
  /** Run directory: the engine's scratch files (init weights, snapshots) go under RUN/.engine. */
  runDir: string;
  log?: (line: string) => void;
}

/** A loss term as the engine receives it: the header part, with typed arrays moved to buffers. */
function encodeTerms(terms: LossTerm[]): { header: unknown[]; buffers: Buffers } {
  const buffers: Buffers = {};
  const header = terms.map((t) => {
    switch (t.kind) {
      case "masked-nll":
        buffers[`${t.name}.mask`] = t.mask;
        return { kind: t.kind, name: t.name, weight: t.weight };
      case "reinforce": {
        const r = t.rollouts;
        buffers[`${t.name}.inputs`] = r.inputs;
        buffers[`${t.name}.targets`] = r.targets;
        buffers[`${t.name}.mask`] = r.mask;
        buffers[`${t.name}.advantages`] = r.advantages;
        if (r.refLogp) buffers[`${t.name}.refLogp`] = r.refLogp;
        return { kind: t.kind, name: t.name, weight: t.weight, klWeight: t.klWeight, rollouts: { size: r.size, seqLen: r.seqLen, tokens: r.tokens } };
      }
      default:
        return t;
    }
  });
  return { header, buffers };
}

export class TorchEngine implements Engine {
  readonly kind = "torch" as const;
  private proc!: TorchProcess;
  private python!: PythonInfo;
  private live!: TorchModel;
  private modelConfig!: ModelConfig;
  private tokenizer!: Tokenizer;
  private evalProc: Promise<TorchProcess> | undefined;
  private snapshots = 0;
  private readonly scratch: string;

  constructor(
    private readonly cfg: EngineConfig,
    private readonly options: TorchEngineOptions,
  ) {
    this.scratch = join(options.runDir, ".engine");
  }

  private log(line: string): void {
    (this.options.log ?? ((l: string) => process.stderr.write(l + "\n")))(line);
  }

  /** Start (or, for `launch: external`, wait for) an engine process group of `nproc` processes. */
  private launch(nproc: number, role: "train" | "eval"): Promise<TorchProcess> {
    const external = role === "train" && this.cfg.launch === "external" ? { socketPath: process.env.MTX_ENGINE_SOCKET, announce: (m: string) => this.log(m) } : undefined;
    return TorchProcess.launch({ python: this.python.python, nproc, device: this.cfg.device, strategy: this.cfg.strategy, timeoutSec: this.cfg.timeoutSec, external, onOutput: process.env.MTX_ENGINE_DEBUG ? (l) => this.log(`[torch] ${l}`) : undefined });
  }

  async start(spec: EngineStart): Promise<EngineInfo> {
    if (this.cfg.strategy === "fsdp" && this.cfg.nproc < 2) throw new ConfigError(`engine.strategy "fsdp" shards the model over processes: give engine.nproc (--nproc) 2 or more, or use "ddp"`);
    this.python = resolvePython({ configured: this.cfg.python, install: true, log: (l) => this.log(l) });
    this.modelConfig = spec.model;
    this.tokenizer = spec.tokenizer;
    rmSync(this.scratch, { recursive: true, force: true });
    mkdirSync(this.scratch, { recursive: true });
    // Weights mtx makes: a random init, or adapters a checkpoint does not have yet (seeded as on tfjs).
    let extra: string | undefined;
    const specs = parameterSpecs(spec.model);
    const fromHasAdapters = !!spec.from && existsSync(join(spec.from.dir, "adapters.safetensors"));
    const needed = spec.from ? specs.filter((s) => s.kind === "adapter" && !fromHasAdapters) : specs;
    if (needed.length) {
      // Drawn in parameter order as tfjs draws them, one tensor at a time as the file is written: a model
      // never sits in this process whole (the engine reads every tensor of the file, adapters included).
      const rng = createRng(spec.seed, spec.from ? "adapters" : "init");
      extra = join(this.scratch, "init");
      mkdirSync(extra);
      writeSafetensorsFile(join(extra, "model.safetensors"), needed.map((s) => ({ name: s.name, shape: s.shape, data: () => initialValues(s, rng) })), { format: "pt", producer: "mtx" });
    }
    this.proc = await this.launch(this.cfg.nproc, "train");
    await this.proc.ready();
    const r = await this.proc.request("start", {
      model: spec.model,
      optimizer: spec.optimizer,
      tokenizer: JSON.stringify(spec.tokenizer.json),
      seed: spec.seed,
      from: spec.from?.dir,
      extra,
      optimizer_moments: spec.from?.optimizer ?? false,
      frozen: spec.frozen,
      batchSize: spec.batchSize,
    }, undefined, Math.max(this.cfg.timeoutSec, 600));
    this.live = new TorchModel(this.proc, "live", spec.model, spec.tokenizer);
    const h = this.proc.hello;
    return {
      kind: "torch",
      description: `PyTorch ${String(r.header.torch)} on ${String(r.header.device)}, ${String(r.header.world)} process${r.header.world === 1 ? "" : "es"} (${r.header.world === 1 ? "single" : String(r.header.strategy)}), ${this.python.python}`,
      kernels: { device: String(r.header.device), processes: Number(r.header.world), strategy: String(r.header.strategy), torchThreads: Number(r.header.threads), torch: String(h.torch) },
      parameters: Number(r.header.parameters),
      lossTerms: ["masked-nll", "infonce", "reinforce", "nan"],
      versions: { torch: String(r.header.torch), python: this.python.python },
    };
  }

  async backward(batch: TokenRows, terms: LossTerm[]): Promise<BackwardResult> {
    const t = encodeTerms(terms);
    const r = await this.proc.request("backward", { size: batch.size, seqLen: batch.seqLen, terms: t.header }, { inputs: batch.inputs, targets: batch.targets, ...t.buffers });
    const h = r.header as { loss: number; totalLoss: number; terms: Record<string, number>; termDetails: Record<string, Record<string, number>>; gradNorm: number };
    return { loss: h.loss, totalLoss: h.totalLoss, terms: h.terms, termDetails: h.termDetails, gradNorm: h.gradNorm, sequenceLoss: r.buffers.sequenceLoss as Float32Array };
  }

  async update(lr: number): Promise<UpdateResult> {
    const r = await this.proc.request("update", { lr });
    return { updateNorm: r.header.updateNorm as number };
  }

  async discard(): Promise<void> {
    await this.proc.request("discard");
  }

  async setFrozen(names: string[]): Promise<void> {
    await this.proc.request("set_frozen", { names });
  }

  async writeTensors(dir: string): Promise<{ optimizerStep: number }> {
    const r = await this.proc.request("write_tensors", { dir, optimizer: true });
    return { optimizerStep: r.header.optimizerStep as number };
  }

  async restore(dir: string): Promise<void> {
    await this.proc.request("restore", { dir });
  }

  async perturb(scale: number, seed: number): Promise<void> {
    await this.proc.request("perturb", { scale, seed });
  }

  get model(): LanguageModel {
    return this.live;
  }

  async loadModel(dir: string): Promise<LanguageModel> {
    const r = await this.proc.request("load_model", { dir });
    const { state, tokenizer } = await readSmall(dir);
    return new TorchModel(this.proc, String(r.header.id), state.model, tokenizer);
  }

  /**
   * The current weights as a checkpoint directory (weights only) under RUN/.engine/snapshots; the three
   * newest are kept, which covers the measurements a run has in flight.
   */
  async snapshot(): Promise<ProbeTarget> {
    const root = join(this.scratch, "snapshots");
    mkdirSync(root, { recursive: true });
    const dir = join(root, `snapshot-${++this.snapshots}`);
    const state = { format: "mtx-checkpoint/1", step: 0, tokens: 0, flops: 0, lr: 0, model: this.modelConfig, tag: "good", hasOptimizer: false, optimizerStep: 0, rng: {}, dataCursor: null, plugins: {}, config: {}, backend: "torch", versions: {}, createdAt: new Date().toISOString() } as CheckpointState;
    await writeCheckpointWith(dir, state, this.tokenizer.json, async (tmp) => {
      await this.proc.request("write_tensors", { dir: tmp, optimizer: false });
    });
    for (const old of readdirSync(root).filter((n) => /^snapshot-\d+$/.test(n) && Number(n.slice(9)) <= this.snapshots - 3)) rmSync(join(root, old), { recursive: true, force: true });
    return { kind: "checkpoint", dir };
  }

  /** Probes and drift run in one eval process of their own (started on first use), off the training process. */
  probePool(): ProbePool {
    this.evalProc ??= this.launch(1, "eval").then(async (p) => {
      await p.ready();
      return p;
    });
    const evalProc = this.evalProc;
    let host: { load(t: ProbeTarget): Promise<LanguageModel>; close(): Promise<void> } | undefined;
    const run = async (task: ProbeTask) => {
      const { runProbeTask, CachingHost } = (await import(pathToFileURL(PROBE_RUNNER).href)) as typeof import("../../../probes/run.js");
      const proc = await evalProc;
      host ??= new CachingHost(async (target) => {
        if (target.kind !== "checkpoint") throw new ConfigError("the torch eval process loads models from checkpoint directories");
        const r = await proc.request("load_model", { dir: target.dir });
        const { state, tokenizer } = await readSmall(target.dir);
        return new TorchModel(proc, String(r.header.id), state.model, tokenizer);
      });
      return runProbeTask(task, host);
    };
    return new InProcessProbePool(run, async () => {
      await host?.close();
      host = undefined;
    });
  }

  async peakMemory(): Promise<ProcessMemory[]> {
    const r = await this.proc.request("memory", {});
    const ranks = r.header.ranks as { rank: number; peakRssMb: number; peakCudaMb?: number }[];
    return [nodeMemory(), ...ranks.map((m) => ({ process: `torch rank ${m.rank}`, peakRssMb: Math.round(m.peakRssMb), ...(m.peakCudaMb !== undefined ? { peakCudaMb: Math.round(m.peakCudaMb) } : {}) }))];
  }

  async close(): Promise<void> {
    const evalProc = this.evalProc;
    this.evalProc = undefined;
    if (evalProc) await (await evalProc.catch(() => undefined))?.close();
    await this.proc?.close();
  }
}

/** A checkpoint's state and tokenizer (verified), without its tensors. */
async function readSmall(dir: string): Promise<{ state: CheckpointState; tokenizer: Tokenizer }> {
  const { verifyCheckpoint } = await import("../../checkpoint/Checkpoint.js");
  const { Tokenizer } = await import("../../data/tokenizer/Tokenizer.js");
  const v = verifyCheckpoint(dir, { withOptimizer: false });
  return { state: v.state, tokenizer: new Tokenizer(v.tokenizerJson) };
}

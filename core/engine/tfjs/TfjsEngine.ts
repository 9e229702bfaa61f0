/**
 * The TensorFlow.js engine: the model, its gradients and AdamW moments in this process, on the wasm backend
 * with mtx's native kernels (or tfjs-node when installed), data-parallel over worker threads when asked.
 * The zero-setup default; its WebAssembly heap ends at 4 GiB, so a model too large for it is refused at
 * start with an estimate (model/memory.ts) rather than crashing mid-step.
 */
import * as tf from "@tensorflow/tfjs";
import { encodeTensorFiles, loadCheckpoint } from "../../checkpoint/Checkpoint.js";
import { describeBackend, initBackend, kernelsInUse, type BackendChoice, type BackendInfo } from "../../backend.js";
import type { ModelConfig } from "../../config/types.js";
import { ConfigError, EngineError } from "../../errors.js";
import { writeDurable } from "../../io/files.js";
import { formatBytes, trainingMemory, WASM_HEAP_LIMIT } from "../../model/memory.js";
import { Transformer } from "../../model/Transformer.js";
import { reserveCores } from "../../native/kernels.js";
import { AdamW } from "../../optim/AdamW.js";
import { DataParallel } from "../../parallel/DataParallel.js";
import { PROBE_WORKER } from "../../paths.js";
import { PiscinaProbePool } from "../../pool/PiscinaProbePool.js";
import type { ProbePool } from "../../pool/ProbePool.js";
import { createRng } from "../../rng.js";
import { join } from "node:path";
import { nodeMemory, type Engine, type EngineInfo, type EngineStart, type ProbeTarget, type ProcessMemory } from "../Engine.js";
import type { LanguageModel } from "../LanguageModel.js";
import type { BackwardResult, LossTerm, TokenRows, UpdateResult } from "../types.js";
import { computeTerm } from "./lossTerms.js";
import { TfjsModel } from "./TfjsModel.js";

export interface TfjsEngineOptions {
  backend: BackendChoice;
  /** Data-parallel threads (the main thread and threads-1 replicas). */
  threads: number;
}

/** Refuse (exit 2) a model and batch that would not fit the wasm heap, with the estimate and what to do. */
export function checkWasmFits(cfg: ModelConfig, batch: number): void {
  const limit = 0.95 * WASM_HEAP_LIMIT;
  const need = trainingMemory(cfg, batch, cfg.contextLength);
  if (need.bytes <= limit) return;
  let smaller = batch;
  while (smaller > 1 && trainingMemory(cfg, smaller, cfg.contextLength).bytes > limit) smaller = Math.floor(smaller / 2);
  const fits = trainingMemory(cfg, smaller, cfg.contextLength).bytes <= limit;
  throw new ConfigError(
    `a ${(need.parameters / 1e6).toFixed(1)} M-parameter model (dModel ${cfg.dModel}, ${cfg.nLayers} layers, context ${cfg.contextLength}) at batch ${batch} needs about ${formatBytes(need.bytes)} ` +
      `of the TensorFlow.js engine's ${formatBytes(WASM_HEAP_LIMIT)} WebAssembly heap (an estimate). Train it on the PyTorch engine (--engine torch)` +
      (fits ? `, or lower --batch-size to ${smaller}` : "") +
      ", or use a smaller model",
  );
}

interface Pending {
  grads: Record<string, tf.Tensor>;
  gradNorm: number;
}

export class TfjsEngine implements Engine {
  readonly kind = "tfjs" as const;
  private backend!: BackendInfo;
  private transformer!: Transformer;
  private optimizer!: AdamW;
  private live!: TfjsModel;
  private frozen = new Set<string>();
  private pending: Pending | undefined;
  private dataParallel: DataParallel | undefined;
  private releaseCores: () => void = () => {};
  private readonly references: TfjsModel[] = [];

  constructor(private readonly options: TfjsEngineOptions) {}

  async start(spec: EngineStart): Promise<EngineInfo> {
    this.backend = await initBackend(this.options.backend);
    if (this.backend.name === "wasm") checkWasmFits(spec.model, spec.batchSize);
    const loaded = spec.from ? (spec.from.loaded ?? loadCheckpoint(spec.from.dir, { withOptimizer: spec.from.optimizer })) : undefined;
    this.transformer = loaded ? Transformer.fromWeights(spec.model, loaded.weights, createRng(spec.seed, "adapters")) : Transformer.init(spec.model, createRng(spec.seed, "init"));
    this.optimizer = new AdamW(this.transformer.params, spec.optimizer);
    if (loaded?.optimizer && spec.from?.optimizer) this.optimizer.importState(loaded.optimizer);
    this.live = new TfjsModel(this.transformer, spec.tokenizer, false);
    await this.setFrozen(spec.frozen);
    await this.startDataParallel(spec.batchSize);
    return this.info();
  }

  private async startDataParallel(batchSize: number): Promise<void> {
    const threads = this.options.threads;
    if (threads <= 1 || batchSize < threads) return;
    this.dataParallel = await DataParallel.start(this.transformer, threads - 1, this.options.backend);
    // Each replica takes a core from the native kernels' threads.
    this.releaseCores = reserveCores(threads - 1);
  }

  private info(): EngineInfo {
    return {
      kind: "tfjs",
      description: describeBackend(this.backend),
      kernels: { ...kernelsInUse(this.backend), dataParallelThreads: this.dataParallel ? this.dataParallel.workers + 1 : 1 },
      parameters: this.transformer.size,
      lossTerms: ["masked-nll", "infonce", "reinforce", "nan"],
      versions: { tfjs: tf.version.tfjs },
    };
  }

  get model(): LanguageModel {
    return this.live;
  }

  private trainable(): tf.Variable[] {
    return [...this.transformer.params.values()].filter((v) => v.trainable);
  }

  async backward(batch: TokenRows, terms: LossTerm[]): Promise<BackwardResult> {
    this.disposePending();
    const trainable = this.trainable();
    // Whole-batch terms need the whole batch in one place: such steps run on this thread.
    const result = this.dataParallel && trainable.length && !terms.length ? await this.parallelGradients(batch, trainable) : this.gradients(batch, terms, trainable);
    this.pending = { grads: result.grads, gradNorm: result.gradNorm };
    const { grads: _g, ...rest } = result;
    return rest;
  }

  async update(lr: number): Promise<UpdateResult> {
    const p = this.pending;
    if (!p) throw new EngineError("update without gradients: call backward first");
    const { updateNorm } = this.optimizer.apply(p.grads, lr, p.gradNorm);
    this.disposePending();
    return { updateNorm };
  }

  async discard(): Promise<void> {
    this.disposePending();
  }

  private disposePending(): void {
    if (this.pending) tf.dispose(Object.values(this.pending.grads));
    this.pending = undefined;
  }

  async setFrozen(names: string[]): Promise<void> {
    this.frozen = new Set(names);
    for (const [name, v] of this.transformer.params) v.trainable = !this.frozen.has(name);
    this.optimizer.dropState(this.frozen);
  }

  /**
   * Loss and gradients of `batch` on this thread: the LM loss, z-loss and the declared terms. Gradients are
   * kept by dotted parameter name until update or discard.
   */
  private gradients(batch: TokenRows, terms: LossTerm[], trainable: tf.Variable[]): BackwardResult & { grads: Record<string, tf.Tensor> } {
    const out = { loss: NaN, totalLoss: NaN, sequenceLoss: new Float32Array(0), terms: {} as Record<string, number>, termDetails: {} as Record<string, Record<string, number>>, gradNorm: NaN, grads: {} as Record<string, tf.Tensor> };
    tf.tidy(() => {
      const kept: tf.Tensor[] = [];
      const keep = <T extends tf.Tensor>(t: T) => (kept.push(tf.keep(t)), t);
      let seqLoss: tf.Tensor | undefined;
      let lmLoss: tf.Tensor | undefined;
      const termValues: [string, tf.Scalar, Record<string, tf.Scalar> | undefined][] = [];
      const lossFn = (): tf.Scalar => {
        const forward = this.transformer.forward(batch.inputs, batch.targets, batch.size, batch.seqLen);
        seqLoss = keep(tf.mean(tf.reshape(forward.tokenLoss, [batch.size, batch.seqLen]), 1));
        lmLoss = keep(forward.lmLoss);
        let total: tf.Scalar = forward.lmLoss;
        if (forward.zLoss) {
          termValues.push(["zLoss", keep(forward.zLoss), undefined]);
          total = tf.add(total, forward.zLoss);
        }
        for (const term of terms) {
          const t = computeTerm(term, this.transformer, forward, batch);
          if (!t) continue;
          termValues.push([t.name, keep(t.value), t.details ? Object.fromEntries(Object.entries(t.details).map(([k, v]) => [k, keep(v)])) : undefined]);
          total = tf.add(total, t.value);
        }
        return total;
      };
      // With every parameter frozen (before progressive unfreezing starts) the step only measures.
      const { value, grads } = trainable.length ? tf.variableGrads(lossFn, trainable) : { value: lossFn(), grads: {} as tf.NamedTensorMap };
      out.totalLoss = value.dataSync()[0]!;
      out.loss = lmLoss!.dataSync()[0]!;
      out.sequenceLoss = (seqLoss!.dataSync() as Float32Array).slice();
      for (const [name, t, details] of termValues) {
        out.terms[name] = (out.terms[name] ?? 0) + t.dataSync()[0]!;
        if (details) out.termDetails[name] = Object.fromEntries(Object.entries(details).map(([k, v]) => [k, v.dataSync()[0]!]));
      }
      // Parameters are keyed by variable name in grads; map back to dotted names.
      for (const [name, v] of this.transformer.params) if (grads[v.name]) out.grads[name] = tf.keep(grads[v.name]!);
      out.gradNorm = AdamW.globalNorm(out.grads);
      tf.dispose(kept);
    });
    return out;
  }

  /**
   * The same loss and gradients computed data-parallel: the batch's rows split in contiguous shards, the
   * first on this thread, the others on the replicas, combined as token-weighted means in a fixed order.
   */
  private async parallelGradients(batch: TokenRows, trainable: tf.Variable[]): Promise<BackwardResult & { grads: Record<string, tf.Tensor> }> {
    const dp = this.dataParallel!;
    const parts = dp.workers + 1;
    const sizes = Array.from({ length: parts }, (_, i) => Math.floor(batch.size / parts) + (i < batch.size % parts ? 1 : 0)).filter((n) => n > 0);
    const T = batch.seqLen;
    const shards: TokenRows[] = [];
    let row = 0;
    for (const n of sizes) {
      shards.push({ size: n, seqLen: T, inputs: batch.inputs.subarray(row * T, (row + n) * T), targets: batch.targets.subarray(row * T, (row + n) * T) });
      row += n;
    }
    dp.syncWeights();
    const names = [...this.transformer.params].filter(([, v]) => trainable.includes(v)).map(([name]) => name);
    const pending = shards.slice(1).map((sh, i) => dp.compute(i, { inputs: sh.inputs.slice(), targets: sh.targets.slice(), size: sh.size, seqLen: T, trainable: names }));
    const main = this.gradients(shards[0]!, [], trainable);
    const remote = await Promise.all(pending);
    const w = sizes.map((n) => n / batch.size);
    const out = { loss: w[0]! * main.loss, totalLoss: NaN, sequenceLoss: new Float32Array(batch.size), terms: {} as Record<string, number>, termDetails: {}, gradNorm: NaN, grads: {} as Record<string, tf.Tensor> };
    out.sequenceLoss.set(main.sequenceLoss, 0);
    let at = shards[0]!.size;
    if (main.terms.zLoss !== undefined) out.terms.zLoss = w[0]! * main.terms.zLoss;
    remote.forEach((r, i) => {
      out.loss += w[i + 1]! * r.loss;
      out.sequenceLoss.set(r.sequenceLoss, at);
      at += r.sequenceLoss.length;
      if (r.zLoss !== undefined) out.terms.zLoss = (out.terms.zLoss ?? 0) + w[i + 1]! * r.zLoss;
    });
    out.totalLoss = out.loss + Object.values(out.terms).reduce((a, b) => a + b, 0);
    for (const name of names) {
      out.grads[name] = tf.tidy(() => {
        let sum = tf.mul(main.grads[name]!, w[0]!);
        remote.forEach((r, i) => (sum = tf.add(sum, tf.mul(tf.tensor(r.grads.get(name)!, main.grads[name]!.shape, "float32"), w[i + 1]!))));
        return sum;
      });
    }
    tf.dispose(Object.values(main.grads));
    out.gradNorm = AdamW.globalNorm(out.grads);
    return out;
  }

  async writeTensors(dir: string): Promise<{ optimizerStep: number }> {
    const optimizer = this.optimizer.exportState();
    for (const [name, buf] of encodeTensorFiles(this.transformer.config, this.transformer.getWeights(), optimizer)) writeDurable(join(dir, name), buf);
    return { optimizerStep: optimizer.step };
  }

  async restore(dir: string): Promise<void> {
    const ckpt = loadCheckpoint(dir);
    this.transformer.setWeights(ckpt.weights);
    if (ckpt.optimizer) this.optimizer.importState(ckpt.optimizer);
    this.optimizer.dropState(this.frozen);
  }

  async perturb(scale: number, seed: number): Promise<void> {
    const rng = createRng(seed, "perturb");
    tf.tidy(() => {
      for (const v of this.transformer.params.values()) {
        if (v.shape.length < 2) continue;
        const rms = Math.sqrt(tf.mean(tf.square(v)).dataSync()[0]!);
        v.assign(tf.add(v, tf.randomNormal(v.shape, 0, scale * rms, "float32", rng.int(2 ** 31))));
      }
    });
  }

  async loadModel(dir: string): Promise<LanguageModel> {
    const m = TfjsModel.fromCheckpoint(dir);
    this.references.push(m);
    return m;
  }

  async snapshot(): Promise<ProbeTarget> {
    return { kind: "weights", config: this.transformer.config, weights: Object.fromEntries(this.transformer.getWeights()), tokenizerJson: this.live.tokenizer.json };
  }

  probePool(): ProbePool {
    return new PiscinaProbePool(PROBE_WORKER, { threads: 1, backend: this.backend.name === "cpu" ? "cpu" : "wasm" });
  }

  /** Parameters currently frozen. */
  get frozenNames(): string[] {
    return [...this.frozen];
  }

  async peakMemory(): Promise<ProcessMemory[]> {
    return [nodeMemory()];
  }

  async close(): Promise<void> {
    this.disposePending();
    this.releaseCores();
    await this.dataParallel?.close();
    for (const r of this.references) await r.dispose();
    this.optimizer?.dispose();
    this.transformer?.dispose();
  }
}

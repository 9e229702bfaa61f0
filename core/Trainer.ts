/**
 * The training loop. It owns the model, optimizer, data stream and run directory, fires the hooks in the
 * order documented in hooks.ts, and carries out the verdicts plugins return. Data flows one way:
 * config -> trainer -> hooks -> plugins -> verdicts back to the trainer.
 */
import { resolve, sep } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { describeBackend, initBackend, kernelsInUse, type BackendInfo } from "./backend.js";
import { latestGoodCheckpoint, listCheckpoints, loadCheckpoint, saveCheckpoint, stepDirName, type CheckpointState, type CheckpointTag, type LoadedCheckpoint } from "./checkpoint/Checkpoint.js";
import type { ConfigChange } from "./config/resume.js";
import type { EffectiveConfig, ModelConfig } from "./config/types.js";
import type { Batch } from "./data/batch.js";
import { buildRunData, type RunData } from "./data/pipeline.js";
import { loadRecipe } from "./data/mixture/recipe.js";
import { sourceName } from "./data/sources/catalog.js";
import { Tokenizer } from "./data/tokenizer/Tokenizer.js";
import type { TokenizerJson } from "./data/tokenizer/trainBpe.js";
import { CheckpointError, ConfigError, ExitCodes, describeError, exitCodeFor, PluginError } from "./errors.js";
import { evaluateBatches } from "./evaluate.js";
import { faultLabel, parseFaults, type Fault } from "./faults.js";
import { createHooks, type EvalResult, type LossContext, type RunStatus, type RunSummary, type StepContext, type StepMetrics, type TrainerHooks } from "./hooks.js";
import { guardTaps } from "./interceptor.js";
import { freezePlan } from "./model/freeze.js";
import { DataParallel } from "./parallel/DataParallel.js";
import { reserveCores } from "./native/kernels.js";
import { formatBytes, trainingMemory, WASM_HEAP_LIMIT } from "./model/memory.js";
import { Transformer, ropeSpec, trainFlopsPerToken } from "./model/Transformer.js";
import { AdamW } from "./optim/AdamW.js";
import { learningRate, type ResolvedSchedule } from "./optim/schedules.js";
import { packageVersion, resolveCheckpointPath, resolveTokenizerPath } from "./paths.js";
import type { MtxPlugin, OnErrorPolicy } from "./plugin.js";
import { createRng, restoreRng, type Rng } from "./rng.js";
import { RunDir } from "./run/RunDir.js";
import type { Logger, TrainerApi } from "./TrainerApi.js";
import { ALLOWED_ACTIONS, formatVerdict, type Verdict, type VerdictRecord } from "./verdicts.js";

export interface TrainerOptions {
  /** Continue the run in `config.out` from its latest checkpoint. */
  resume?: boolean;
  /** onError policy per plugin name (default: halt). */
  policies?: Record<string, OnErrorPolicy>;
  log?: Logger;
  /** On --resume: the config fields this resume changes (recorded in decisions.jsonl). */
  configChanges?: ConfigChange[];
}

type StopSignal = "SIGINT" | "SIGTERM";

/** A step's context plus what the trainer decided while running it. */
interface StepOutcome extends StepContext {
  /** A verdict from shouldSkipStep halted the run. */
  skipHalt?: RunSummary["halt"];
  /** A verdict rolled the run back: the step did not happen. */
  rolledBack?: boolean;
}

/** Loss and gradients of one step, by dotted parameter name (kept tensors; the caller disposes them). */
interface StepGradients {
  loss: number;
  totalLoss: number;
  sequenceLoss: Float32Array;
  terms: Record<string, number>;
  named: Record<string, tf.Tensor>;
}

interface LrReduction {
  factor: number;
  untilStep: number;
}

const silent: Logger = { info() {}, warn() {} };

/** Refuse (exit 2) a model and batch that would not fit the wasm heap, with the estimate and what to do. */
function checkWasmFits(cfg: ModelConfig, batch: number): void {
  const need = trainingMemory(cfg, batch, cfg.contextLength);
  if (need.bytes <= 0.95 * WASM_HEAP_LIMIT) return;
  let smaller = batch;
  while (smaller > 1 && trainingMemory(cfg, smaller, cfg.contextLength).bytes > 0.95 * WASM_HEAP_LIMIT) smaller = Math.floor(smaller / 2);
  const fits = trainingMemory(cfg, smaller, cfg.contextLength).bytes <= 0.95 * WASM_HEAP_LIMIT;
  throw new ConfigError(
    `a ${(need.parameters / 1e6).toFixed(1)} M-parameter model (dModel ${cfg.dModel}, ${cfg.nLayers} layers, context ${cfg.contextLength}) at batch ${batch} needs about ${formatBytes(need.bytes)} ` +
      `of the TensorFlow.js engine's ${formatBytes(WASM_HEAP_LIMIT)} WebAssembly heap (an estimate). Train it on the PyTorch engine (--engine torch)` +
      (fits ? `, or lower --batch-size to ${smaller}` : "") + ", or use a smaller model",
  );
}

export class Trainer implements TrainerApi {
  readonly hooks: TrainerHooks = createHooks();
  readonly config: EffectiveConfig;
  readonly log: Logger;
  /** Opened (and locked) when train() starts. */
  private run!: RunDir;
  private readonly runPath: string;
  private readonly plugins: MtxPlugin[];
  private readonly rngs = new Map<string, Rng>();
  private stopSignal: StopSignal | undefined;
  private pendingRngStates: Record<string, object> = {};

  // Set up in prepare().
  private backend!: BackendInfo;
  private model!: Transformer;
  private optimizer!: AdamW;
  private tokenizer!: Tokenizer;
  private data!: RunData;
  private schedule!: ResolvedSchedule;
  private startStep = 0;
  private step = 0;
  private tokens = 0;
  private flops = 0;
  private lastLr = 0;
  private lrReduction: LrReduction | undefined;
  private lastVerdictStep = -Infinity;
  private recipeWeights: Record<string, number> = {};
  private pluginMetrics: Record<string, number> = {};
  private deferred: { step: number; work: Promise<unknown> }[] = [];
  private readonly skipSamples = new Set<string>();
  private readonly faults: Fault[];
  private readonly faultsFired = new Set<string>();
  /** An injected LR spike in progress (cleared by a rollback). */
  private lrSpike: { factor: number; until: number } | undefined;
  private readonly verdicts: VerdictRecord[] = [];
  private from: string | undefined;
  private resetOptimizer = false;
  /** Parameters currently frozen (no gradient, no update, no optimizer state). */
  private frozen = new Set<string>();
  /** Compute already in the starting checkpoint (its pre-training), for the report's compute share. */
  private baseCompute = { tokens: 0, flops: 0 };
  private trainable = 0;
  /** Replicas computing gradient shards in worker threads (parallel.threads > 1). */
  private dataParallel: DataParallel | undefined;
  /** Gives back the cores the replicas took from the native kernels. */
  private releaseCores: () => void = () => {};

  constructor(config: EffectiveConfig, plugins: MtxPlugin[] = [], private readonly options: TrainerOptions = {}) {
    this.config = config;
    this.log = options.log ?? silent;
    if (!options.resume) {
      // A new run never appends to an earlier run's metrics or mixes its checkpoints with that run's.
      const from = config.from && config.from !== "bundled" ? resolve(config.from) : undefined;
      if (from && (from + sep).startsWith(resolve(config.out) + sep)) {
        throw new ConfigError(`--from ${config.from} is inside --out ${config.out}, which holds the run it came from; give the new run another --out (or pass --resume to continue that run)`);
      }
    }
    this.runPath = resolve(config.out);
    this.plugins = plugins;
    this.faults = parseFaults(config.inject);
    const names = new Set<string>();
    for (const p of plugins) {
      if (names.has(p.name)) throw new PluginError(p.name, undefined, `plugin '${p.name}' is listed twice`);
      names.add(p.name);
    }
    guardTaps(this.hooks, {
      policyOf: (name) => options.policies?.[name] ?? "halt",
      onError: ({ error, policy }) => {
        this.log.warn(`${error.message} (onError: ${policy})`);
        this.run?.append("decisions.jsonl", { step: this.step, action: "plugin-error", plugin: error.plugin, hook: error.hook, policy, reason: error.message, time: new Date().toISOString() });
      },
    });
    for (const p of plugins) p.apply(this);
  }

  get runDir(): string {
    return this.runPath;
  }

  rng(label: string): Rng {
    let r = this.rngs.get(label);
    if (!r) {
      const saved = this.pendingRngStates[label];
      r = saved ? restoreRng(saved) : createRng(this.config.seed, label);
      this.rngs.set(label, r);
    }
    return r;
  }

  logMetrics(values: Record<string, number>): void {
    Object.assign(this.pluginMetrics, values);
  }

  warn(plugin: string, reason: string, evidence?: Record<string, unknown>): void {
    this.run.append("decisions.jsonl", { step: this.step, action: "warn", plugin, reason, evidence, time: new Date().toISOString() });
    this.log.warn(`[${plugin}] warning at step ${this.step}: ${reason}`);
  }

  defer(step: number, work: Promise<unknown>): void {
    this.deferred.push({ step, work });
  }

  /** Await the deferred work due at or before `step`. */
  private async settleDeferred(step: number): Promise<void> {
    const due = this.deferred.filter((d) => d.step <= step);
    if (!due.length) return;
    this.deferred = this.deferred.filter((d) => d.step > step);
    await Promise.all(due.map((d) => d.work));
  }

  /** Ask the loop to stop after the current step, save a checkpoint and exit 130 / 143. */
  requestStop(signal: StopSignal): void {
    this.stopSignal = signal;
  }

  /** Run to the end (or a halt or a stop). Errors are rethrown after summary, failure and shutdown. */
  async train(): Promise<RunSummary> {
    // The run directory is this process's alone from here on (a second writer gets exit 2).
    this.run = RunDir.openForWriting(this.config.out, { resume: !!this.options.resume, onMoved: (to) => this.log.info(`${this.config.out} held an earlier run: moved it to ${to}`) });
    const started = performance.now();
    let status: RunStatus = "failed";
    let halt: RunSummary["halt"];
    let firstLoss: number | null = null;
    let lastLoss: number | null = null;
    let lastEval: EvalResult | undefined;
    let lastCheckpoint: string | undefined;
    let loopTokens = 0;
    let loopTime = 0;
    const summarize = (exitCode: number, error?: unknown): RunSummary => ({
      status,
      exitCode,
      runDir: this.run.path,
      steps: this.step - this.startStep,
      startStep: this.startStep,
      endStep: this.step,
      tokens: this.tokens,
      flops: this.flops,
      firstLoss,
      lastLoss,
      heldout: lastEval ? { loss: lastEval.heldoutLoss, bpb: lastEval.heldoutBpb } : null,
      verdicts: this.verdicts,
      halt,
      error: error === undefined ? undefined : describeError(error),
      backend: this.backend ? describeBackend(this.backend) : "none",
      wallTimeSec: (performance.now() - started) / 1000,
      tokensPerSec: loopTime > 0 ? loopTokens / (loopTime / 1000) : 0,
      lastCheckpoint,
      from: this.from,
      resetOptimizer: this.resetOptimizer || undefined,
      trainableParams: this.model ? this.trainable : undefined,
      base: this.baseCompute,
      kernels: this.model ? this.kernels() : undefined,
    });

    try {
      await this.prepare();
      await this.hooks.runStart.promise({
        config: this.config,
        runDir: this.run.path,
        model: this.model,
        tokenizer: this.tokenizer,
        backend: this.backend,
        startStep: this.startStep,
        totalSteps: this.config.steps,
        resumed: !!this.options.resume,
        from: this.from,
        data: {
          recipe: this.data.recipe.recipe.name,
          groups: this.data.mixture.groups.map((g) => ({ name: g.name, weight: g.weight, replay: g.replay, sources: g.sources.map(sourceName) })),
          heldout: this.data.mixture.heldout,
        },
      });

      const evalEvery = this.config.eval.every;
      // A recipe whose sources all skip the held-out split (task generators) has nothing to evaluate on.
      const canEval = this.data.heldout.length > 0;
      if (!canEval) this.log.info("held-out evaluation: none (no source of this recipe holds documents out)");
      const ckptEvery = this.config.checkpoint.every;
      while (this.step < this.config.steps) {
        const ctx = await this.trainStep();
        if (ctx.rolledBack) continue;
        loopTokens += ctx.batch.size * ctx.batch.seqLen;
        loopTime += ctx.metrics!.stepTimeMs;
        firstLoss ??= ctx.loss;
        lastLoss = ctx.loss;

        await this.settleDeferred(this.step);
        const haltVerdict = this.askVerdict("shouldHalt", ctx);
        Object.assign(ctx.metrics!, this.pluginMetrics);
        this.pluginMetrics = {};
        let rolledBack = false;
        if (haltVerdict) {
          const outcome = this.carryOut(haltVerdict, ctx);
          if (outcome === "halt") {
            halt = { plugin: haltVerdict.plugin, reason: haltVerdict.reason, evidence: haltVerdict.evidence };
            this.run.append("metrics.jsonl", ctx.metrics);
            break;
          }
          rolledBack = outcome === "rollback";
        }
        if (rolledBack) continue;
        if (ctx.skipHalt) {
          halt = ctx.skipHalt;
          this.run.append("metrics.jsonl", ctx.metrics);
          break;
        }

        const last = this.step === this.config.steps;
        if (canEval && ((evalEvery > 0 && this.step % evalEvery === 0) || last)) {
          lastEval = await this.evaluate();
          ctx.metrics!.heldoutLoss = lastEval.heldoutLoss;
          ctx.metrics!.heldoutBpb = lastEval.heldoutBpb;
        }
        this.run.append("metrics.jsonl", ctx.metrics);
        if ((ckptEvery > 0 && this.step % ckptEvery === 0) || last) lastCheckpoint = await this.checkpoint(this.guardrailTag());
        // The step is synchronous: yield to the event loop so signals (and worker results) get through.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.stopSignal) break;
      }

      // Work still deferred past the last step (a probe in a worker) finishes before the workers close.
      await this.settleDeferred(Infinity);
      if (halt) {
        status = "halted";
        lastCheckpoint = await this.checkpoint("halted", halt.reason);
        this.log.warn(`halted by ${halt.plugin}: ${halt.reason}`);
      } else if (this.stopSignal) {
        status = "interrupted";
        if (!lastCheckpoint?.endsWith(stepDirName(this.step))) lastCheckpoint = await this.checkpoint(this.guardrailTag());
        this.log.warn(`${this.stopSignal}: saved ${lastCheckpoint}; continue with --resume`);
      } else {
        status = "completed";
      }
      const exitCode = status === "halted" ? ExitCodes.halted : status === "interrupted" ? (this.stopSignal === "SIGINT" ? ExitCodes.interrupted : ExitCodes.terminated) : ExitCodes.ok;
      const summary = summarize(exitCode);
      this.run.writeJson("summary.json", summary);
      await this.hooks.runEnd.promise(summary);
      return summary;
    } catch (error) {
      status = "failed";
      const summary = summarize(exitCodeFor(error), error);
      try {
        this.run.writeJson("summary.json", summary);
        await this.hooks.failure.promise({ step: this.step, error });
      } catch (inner) {
        this.log.warn(`while reporting the failure: ${describeError(inner)}`);
      }
      throw error;
    } finally {
      await this.shutdown(status);
    }
  }

  // ---------------------------------------------------------------- setup

  private async prepare(): Promise<void> {
    loadRecipe(this.config.data.recipe); // fail fast on a bad recipe, before loading any model
    this.backend = await initBackend(this.config.backend);
    this.log.info(`backend: ${describeBackend(this.backend)}`);
    let start: LoadedCheckpoint | undefined;
    if (this.options.resume) {
      const steps = listCheckpoints(this.run.checkpoints);
      if (!steps.length) throw new CheckpointError(`--resume: no checkpoint in ${this.run.checkpoints}; start the run without --resume`);
      start = loadCheckpoint(`${this.run.checkpoints}/${stepDirName(steps[steps.length - 1]!)}`);
      this.from = start.dir;
    } else if (this.config.from !== null) {
      start = loadCheckpoint(resolveCheckpointPath(this.config.from));
      this.from = start.dir;
    }

    this.tokenizer = start ? new Tokenizer(start.tokenizerJson as TokenizerJson) : Tokenizer.load(resolveTokenizerPath(this.config.tokenizer));
    let modelConfig = start ? start.state.model : this.scratchModelConfig();
    if (!this.options.resume) modelConfig = this.stageModelConfig(modelConfig, !!start);
    if (this.backend.name === "wasm") checkWasmFits(modelConfig, this.config.data.batchSize);
    this.model = start ? Transformer.fromWeights(modelConfig, start.weights, this.rng("adapters")) : Transformer.init(modelConfig, this.rng("init"));
    this.optimizer = new AdamW(this.model.params, this.config.optimizer);
    if (start) {
      if (start.optimizer) this.optimizer.importState(start.optimizer);
      else if (this.config.resetOptimizer) {
        this.resetOptimizer = true;
        this.log.warn(`RESET OPTIMIZER: ${start.dir} has no AdamW moments; starting from zero moments. Expect a loss spike in the first steps.`);
        this.run.append("decisions.jsonl", { step: start.state.step, action: "reset-optimizer", plugin: "trainer", reason: "starting checkpoint has no optimizer moments; --reset-optimizer given", time: new Date().toISOString() });
      } else {
        throw new CheckpointError(`${start.dir} has no optimizer moments. Mid-training should resume with the original AdamW moments; pass --reset-optimizer to start fresh ones (expect a loss spike).`);
      }
    }

    const seqLen = modelConfig.contextLength;
    this.data = buildRunData(this.config, this.tokenizer, seqLen, this.log);
    this.recipeWeights = Object.fromEntries(this.data.mixture.groups.map((g) => [g.name, g.weight]));
    this.schedule = this.resolveSchedule(start);
    this.run.writeJson("config.json", this.config);

    if (this.options.resume && start) {
      this.restoreRunState(start, "resume");
      const changes = this.options.configChanges ?? [];
      if (changes.length) {
        const reason = `resumed with ${changes.map((c) => `${c.field} ${JSON.stringify(c.before)} -> ${JSON.stringify(c.after)}`).join(", ")}`;
        this.run.append("decisions.jsonl", { step: this.step, action: "config-change", plugin: "trainer", reason, evidence: { changes }, time: new Date().toISOString() });
        this.log.info(reason);
      }
      this.run.truncateAfter(this.step);
      this.log.info(`resumed at step ${this.step} from ${start.dir}`);
    } else if (start) {
      this.tokens = start.state.tokens;
      this.flops = start.state.flops;
      this.baseCompute = { tokens: start.state.tokens, flops: start.state.flops };
      this.log.info(`starting from ${start.dir} (step ${start.state.step} of its run)`);
      this.continueDataStream(start);
    }
    this.updateFreezing(this.step);
    await this.startDataParallel();
    const rope = ropeSpec(modelConfig);
    const ropeText = rope.type === "none" ? `RoPE base ${rope.base}` : `RoPE ${rope.type} x${rope.factor} from ${rope.originalContext} (base ${rope.base})`;
    this.log.info(`model: ${this.model.size.toLocaleString("en-US")} parameters, context ${seqLen} (${ropeText}), batch ${this.config.data.batchSize}`);
    this.log.info(`kernels: ${Object.entries(this.kernels()).filter(([k]) => k !== "backend").map(([k, v]) => `${k} ${v}`).join("; ")}`);
    this.log.info(`trainable: ${this.trainableCount().toLocaleString("en-US")} of ${this.model.size.toLocaleString("en-US")} parameters` + (this.frozen.size ? ` (${this.frozen.size} tensors frozen)` : "") + (modelConfig.adapters ? `; adapters rank ${modelConfig.adapters.rank} on ${this.model.adapterNames.length / 2} matrices` : ""));
  }

  /** Start the data-parallel replicas when asked for and possible. */
  private async startDataParallel(): Promise<void> {
    const threads = this.config.parallel.threads;
    if (threads <= 1) return;
    const taps = this.hooks.transformLoss.taps.map((t) => t.name);
    if (taps.length) {
      this.log.warn(`parallel.threads ${threads} ignored: ${taps.join(", ")} add loss terms on the whole batch (transformLoss); training on one thread`);
      return;
    }
    if (this.config.data.batchSize < threads) {
      this.log.warn(`parallel.threads ${threads} ignored: a batch of ${this.config.data.batchSize} sequences cannot be split ${threads} ways`);
      return;
    }
    this.dataParallel = await DataParallel.start(this.model, threads - 1, this.config.backend);
    // Each replica takes a core from the native kernels' threads.
    this.releaseCores = reserveCores(threads - 1);
  }

  /** The kernels in use, printed at start and recorded in summary.json. */
  kernels(): Record<string, string | number> {
    return {
      ...kernelsInUse(this.backend),
      dataParallelThreads: this.dataParallel ? this.dataParallel.workers + 1 : 1,
    };
  }

  /**
   * The model config of a new stage from a checkpoint (or a random init): a longer context with its RoPE
   * scaling (`context`) and low-rank adapters (`adapters`). A resumed run keeps its checkpoint's.
   */
  private stageModelConfig(base: ModelConfig, fromCheckpoint: boolean): ModelConfig {
    let cfg = base;
    const ext = this.config.context;
    if (ext) {
      const old = ropeSpec(base);
      const length = ext.length ?? base.contextLength;
      const type = ext.rope?.type ?? base.rope?.type ?? "none";
      const originalContext = ext.rope?.originalContext ?? base.rope?.originalContext ?? base.contextLength;
      const factor = ext.rope?.factor ?? (type === "none" ? 1 : Math.max(1, length / originalContext));
      cfg = { ...cfg, contextLength: length, rope: { type, base: ext.rope?.base ?? old.base, factor, originalContext } };
    }
    const want = this.config.adapters;
    if (want) {
      const have = base.adapters;
      if (have && (have.rank !== want.rank || have.alpha !== want.alpha || have.targets.join() !== want.targets.join())) {
        throw new ConfigError(`the starting checkpoint already has adapters (rank ${have.rank}, alpha ${have.alpha}, targets ${have.targets.join(", ")}) that differ from 'adapters': fold them in first with \`mtx merge\`, or drop 'adapters' to keep training them`);
      }
      cfg = { ...cfg, adapters: { rank: want.rank, alpha: want.alpha, targets: [...want.targets] } };
    }
    if (!fromCheckpoint && cfg.adapters) this.log.warn("adapters on a model trained from a random init: its base weights stay at their init");
    return cfg;
  }

  private trainableCount(): number {
    let n = 0;
    for (const s of this.model.specs) if (!this.frozen.has(s.name)) n += s.shape.reduce((a, b) => a * b, 1);
    return n;
  }

  /** Set which parameters train for the step after `completedSteps`; frozen ones lose their moments. */
  private updateFreezing(completedSteps: number): void {
    const plan = freezePlan(this.model.specs, this.model.config.nLayers, this.config.freeze, !!this.model.config.adapters, completedSteps);
    const released = [...this.frozen].filter((n) => !plan.frozen.has(n));
    const changed = released.length > 0 || plan.frozen.size !== this.frozen.size;
    this.frozen = plan.frozen;
    for (const [name, v] of this.model.params) v.trainable = !this.frozen.has(name);
    this.optimizer.dropState(this.frozen);
    this.trainable = this.trainableCount();
    if (changed && completedSteps > this.startStep && released.length) {
      const layer = plan.released.at(-1);
      const reason = `progressive unfreezing: ${layer} trains from step ${completedSteps + 1}; ${this.trainableCount().toLocaleString("en-US")} trainable parameters`;
      this.run.append("decisions.jsonl", { step: completedSteps + 1, action: "unfreeze", plugin: "trainer", reason, layer, time: new Date().toISOString() });
      this.log.info(reason);
    }
  }

  /**
   * A new run on the same data stream as its starting checkpoint (same sources, seed and sequence length)
   * continues where that run stopped, so it does not replay sequences the checkpoint was trained on.
   */
  private continueDataStream(start: LoadedCheckpoint): void {
    const prev = start.state.config as Partial<EffectiveConfig> | undefined;
    const same = start.state.dataCursor && prev?.seed === this.config.seed && prev?.data?.recipe === this.config.data.recipe && start.state.model.contextLength === this.model.config.contextLength;
    if (!same) return;
    try {
      this.data.train.restore(start.state.dataCursor!);
      this.log.info(`continuing the starting checkpoint's data stream`);
    } catch {
      // A cursor of another data layout: start the stream afresh.
    }
  }

  private scratchModelConfig(): ModelConfig {
    const m = this.config.model;
    if (m.vocabSize !== undefined && m.vocabSize !== this.tokenizer.vocabSize) {
      throw new ConfigError(`model.vocabSize is ${m.vocabSize} but the tokenizer has ${this.tokenizer.vocabSize} tokens: remove model.vocabSize or use a matching tokenizer`);
    }
    return { ...m, vocabSize: this.tokenizer.vocabSize };
  }

  private resolveSchedule(start: LoadedCheckpoint | undefined): ResolvedSchedule {
    const s = this.config.schedule;
    let peakLr: number;
    if (s.peakLr === "from-checkpoint") {
      if (!start) throw new ConfigError(`schedule.peakLr is "from-checkpoint" but the run starts from a random init: give a number or set 'from'`);
      const origin = this.options.resume ? (start.state.config as EffectiveConfig).schedule : undefined;
      peakLr = origin && typeof origin.peakLr === "number" ? origin.peakLr : start.state.lr;
      if (!(peakLr > 0)) throw new CheckpointError(`${start.dir}/state.json records no positive learning rate for peakLr "from-checkpoint"`);
    } else peakLr = s.peakLr;
    return { ...s, peakLr, totalSteps: this.config.steps };
  }

  private restoreRunState(ckpt: LoadedCheckpoint, reason: "resume" | "rollback"): void {
    const s = ckpt.state;
    this.step = s.step;
    if (reason === "resume") this.startStep = s.step;
    this.tokens = s.tokens;
    this.flops = s.flops;
    this.lastLr = s.lr;
    this.rngs.clear();
    this.pendingRngStates = s.rng;
    if (s.dataCursor) this.data.train.restore(s.dataCursor);
    const t = s.trainer as { lrReduction?: LrReduction; skipSamples?: string[]; faultsFired?: string[]; baseCompute?: { tokens: number; flops: number } };
    if (t.baseCompute) this.baseCompute = t.baseCompute;
    this.lrReduction = t.lrReduction;
    this.lrSpike = undefined;
    // Skipped data windows and fired faults are history: a rollback keeps what happened since.
    for (const id of t.skipSamples ?? []) this.skipSamples.add(id);
    for (const f of t.faultsFired ?? []) this.faultsFired.add(f);
    this.data.train.skip?.(this.skipSamples);
    if (reason === "rollback") this.updateFreezing(this.step);
    for (const p of this.plugins) if (p.restore && s.plugins[p.name] !== undefined) p.restore(s.plugins[p.name], reason);
  }

  // ---------------------------------------------------------------- the step

  private currentLr(step: number): number {
    let lr = learningRate(step, this.schedule);
    if (this.lrSpike && step <= this.lrSpike.until) lr *= this.lrSpike.factor;
    if (this.lrReduction) {
      if (step <= this.lrReduction.untilStep) lr *= this.lrReduction.factor;
      else this.lrReduction = undefined;
    }
    return lr;
  }

  private async trainStep(): Promise<StepOutcome> {
    const t0 = performance.now();
    const step = this.step + 1;
    const current = this.data.train.weights();
    const mix = this.hooks.mixtureWeights.call({ step, weights: current, recipe: this.recipeWeights });
    if (mix.weights !== current) this.data.train.setWeights(mix.weights);
    const mixtureWeights = this.data.train.weights();
    this.data.train.setProgress((step - 1) / this.config.steps);
    let batch: Batch = this.hooks.transformBatch.call(this.data.train.next());
    const firing = this.faults.filter((f) => f.step === step && !this.faultsFired.has(faultLabel(f)));
    for (const f of firing) if (f.kind === "lr-spike") this.lrSpike = { factor: f.factor, until: step + f.steps - 1 };
    if (firing.some((f) => f.kind === "bad-batch")) batch = this.corruptBatch(batch);
    const ctx: StepOutcome = { step, batch, lr: this.currentLr(step), loss: NaN, gradNorm: NaN, sequenceLoss: new Float32Array(0), updateNorm: 0, skipped: false };
    this.hooks.stepStart.call(ctx);

    if (this.config.freeze.unfreezeAt.includes(step)) this.updateFreezing(step - 1);
    const trainable = [...this.model.params.values()].filter((v) => v.trainable);
    const g = this.dataParallel && trainable.length ? await this.parallelGradients(batch, step, firing, trainable) : this.gradients(batch, step, firing, trainable);
    ctx.loss = g.loss;
    ctx.sequenceLoss = g.sequenceLoss;
    const terms = g.terms;
    const totalLoss = g.totalLoss;
    const named = g.named;
    tf.tidy(() => {
      ctx.gradNorm = AdamW.globalNorm(named);
      this.hooks.afterBackward.call(ctx);

      // Plugins see the step first (a guardrail may skip or roll back); a non-finite step that no plugin
      // skipped is fatal (as in Megatron): never applied, the run halts with the batch's provenance.
      const bad = [["loss", ctx.loss], ["total loss", totalLoss], ["gradient norm", ctx.gradNorm]].find(([, v]) => !Number.isFinite(v as number));
      let verdict: Verdict | undefined = this.askVerdict("shouldSkipStep", ctx);
      if (bad && (!verdict || verdict.action === "reduce-lr")) {
        verdict = { action: "halt", plugin: "trainer", reason: `non-finite ${bad[0]} (${bad[1]}) at step ${step}; the update was not applied`, evidence: { loss: String(ctx.loss), totalLoss: String(totalLoss), gradNorm: String(ctx.gradNorm), samples: batch.samples.map((s) => s.id), sources: batch.samples.map((s) => s.source) } };
      }
      let apply = true;
      if (verdict) {
        const outcome = this.carryOut(verdict, ctx);
        if (outcome === "reduce-lr") ctx.lr = this.currentLr(step);
        else if (outcome === "rollback") {
          apply = false;
          ctx.rolledBack = true;
        } else {
          apply = false;
          ctx.skipped = true;
          if (outcome === "halt") ctx.skipHalt = { plugin: verdict.plugin, reason: verdict.reason, evidence: verdict.evidence };
        }
      }
      if (apply) ctx.updateNorm = this.optimizer.apply(named, ctx.lr, ctx.gradNorm).updateNorm;
    });
    tf.dispose(Object.values(named));
    for (const f of firing) this.fireFault(f, step);
    // A rollback restored an earlier step: this step did not happen.
    if (ctx.rolledBack) return ctx;

    const tokensNow = batch.size * batch.seqLen;
    this.step = step;
    this.tokens += tokensNow;
    this.flops += tokensNow * trainFlopsPerToken(this.model.config, batch.seqLen);
    this.lastLr = ctx.lr;
    const stepTimeMs = performance.now() - t0;
    const sourceLoss: Record<string, number> = {};
    const counts: Record<string, number> = {};
    batch.samples.forEach((s, i) => {
      sourceLoss[s.source] = (sourceLoss[s.source] ?? 0) + ctx.sequenceLoss[i]!;
      counts[s.source] = (counts[s.source] ?? 0) + 1;
    });
    for (const k of Object.keys(sourceLoss)) sourceLoss[k]! /= counts[k]!;
    const metrics: StepMetrics = {
      step,
      loss: ctx.loss,
      totalLoss,
      terms,
      gradNorm: ctx.gradNorm,
      updateNorm: ctx.updateNorm,
      lr: ctx.lr,
      tokens: this.tokens,
      tokensPerSec: tokensNow / (stepTimeMs / 1000),
      stepTimeMs,
      sourceLoss,
      skipped: ctx.skipped,
      mixtureWeights,
      trainableParams: this.trainable,
    };
    ctx.metrics = metrics;
    this.hooks.stepEnd.call(ctx);
    return ctx;
  }

  /**
   * Loss and gradients of `batch` on this thread: the LM loss plus the terms taps add through
   * transformLoss. The gradients (by dotted name) are kept; the caller disposes them.
   */
  private gradients(batch: Batch, step: number, firing: Fault[], trainable: tf.Variable[]): StepGradients {
    const out: StepGradients = { loss: NaN, totalLoss: NaN, sequenceLoss: new Float32Array(0), terms: {}, named: {} };
    tf.tidy(() => {
      let seqLossT: tf.Tensor | undefined;
      let lmLossT: tf.Scalar | undefined;
      const termTensors: [string, tf.Scalar][] = [];
      const lossFn = (): tf.Scalar => {
        const forward = this.model.forward(batch.inputs, batch.targets, batch.size, batch.seqLen);
        const init: LossContext = { step, batch, forward, terms: forward.zLoss ? [{ name: "zLoss", value: forward.zLoss }] : [] };
        if (firing.some((f) => f.kind === "nan")) init.terms.push({ name: "injected-nan", value: tf.mul(NaN, forward.lmLoss) as tf.Scalar });
        const lossCtx = this.hooks.transformLoss.call(init) ?? init;
        seqLossT = tf.keep(tf.mean(tf.reshape(forward.tokenLoss, [batch.size, batch.seqLen]), 1));
        lmLossT = tf.keep(forward.lmLoss);
        let total: tf.Scalar = forward.lmLoss;
        for (const t of lossCtx.terms) {
          termTensors.push([t.name, tf.keep(t.value)]);
          total = tf.add(total, t.value);
        }
        return total;
      };
      // With every parameter frozen (e.g. before progressive unfreezing starts) the step only measures.
      const { value, grads } = trainable.length ? tf.variableGrads(lossFn, trainable) : { value: lossFn(), grads: {} as tf.NamedTensorMap };
      out.totalLoss = value.dataSync()[0]!;
      out.loss = lmLossT!.dataSync()[0]!;
      out.sequenceLoss = seqLossT!.dataSync() as Float32Array;
      for (const [name, t] of termTensors) out.terms[name] = (out.terms[name] ?? 0) + t.dataSync()[0]!;
      // Parameters are keyed by variable name in grads; map back to dotted names.
      for (const [name, v] of this.model.params) if (grads[v.name]) out.named[name] = tf.keep(grads[v.name]!);
      tf.dispose([seqLossT!, lmLossT!, ...termTensors.map(([, t]) => t)]);
    });
    return out;
  }

  /**
   * The same loss and gradients computed data-parallel: the batch's rows split in contiguous shards, the
   * first on this thread, the others on the replicas, combined as token-weighted means in a fixed order.
   */
  private async parallelGradients(batch: Batch, step: number, firing: Fault[], trainable: tf.Variable[]): Promise<StepGradients> {
    const dp = this.dataParallel!;
    const parts = dp.workers + 1;
    const sizes = Array.from({ length: parts }, (_, i) => Math.floor(batch.size / parts) + (i < batch.size % parts ? 1 : 0)).filter((n) => n > 0);
    const T = batch.seqLen;
    const shards: Batch[] = [];
    let row = 0;
    for (const n of sizes) {
      shards.push({ size: n, seqLen: T, inputs: batch.inputs.subarray(row * T, (row + n) * T), targets: batch.targets.subarray(row * T, (row + n) * T), samples: batch.samples.slice(row, row + n) });
      row += n;
    }
    dp.syncWeights();
    const names = [...this.model.params].filter(([, v]) => trainable.includes(v)).map(([name]) => name);
    const pending = shards.slice(1).map((sh, i) => dp.compute(i, { inputs: sh.inputs.slice(), targets: sh.targets.slice(), size: sh.size, seqLen: T, trainable: names }));
    const main = this.gradients(shards[0]!, step, firing, trainable);
    const remote = await Promise.all(pending);
    const w = sizes.map((n) => n / batch.size);
    const out: StepGradients = { loss: w[0]! * main.loss, totalLoss: NaN, sequenceLoss: new Float32Array(batch.size), terms: {}, named: {} };
    out.sequenceLoss.set(main.sequenceLoss, 0);
    let at = shards[0]!.size;
    for (const [name, v] of Object.entries(main.terms)) out.terms[name] = name === "zLoss" ? w[0]! * v : v;
    remote.forEach((r, i) => {
      out.loss += w[i + 1]! * r.loss;
      out.sequenceLoss.set(r.sequenceLoss, at);
      at += r.sequenceLoss.length;
      if (r.zLoss !== undefined) out.terms.zLoss = (out.terms.zLoss ?? 0) + w[i + 1]! * r.zLoss;
    });
    out.totalLoss = out.loss + Object.values(out.terms).reduce((a, b) => a + b, 0);
    for (const name of names) {
      out.named[name] = tf.tidy(() => {
        let sum = tf.mul(main.named[name]!, w[0]!);
        remote.forEach((r, i) => (sum = tf.add(sum, tf.mul(tf.tensor(r.grads.get(name)!, main.named[name]!.shape, "float32"), w[i + 1]!))));
        return sum;
      });
    }
    tf.dispose(Object.values(main.named));
    return out;
  }

  // ---------------------------------------------------------------- fault injection

  /** bad-batch: the step's tokens replaced by uniform random ids (the sample ids are kept for provenance). */
  private corruptBatch(batch: Batch): Batch {
    const rng = this.rng("faults");
    const V = this.model.config.vocabSize;
    const inputs = Int32Array.from(batch.inputs, () => rng.int(V));
    const targets = Int32Array.from(batch.targets, () => rng.int(V));
    return { ...batch, inputs, targets };
  }

  private fireFault(f: Fault, step: number): void {
    const label = faultLabel(f);
    if (f.kind === "weight-noise") {
      const rng = this.rng("faults");
      tf.tidy(() => {
        for (const v of this.model.params.values()) {
          if (v.shape.length < 2) continue;
          const rms = Math.sqrt(tf.mean(tf.square(v)).dataSync()[0]!);
          v.assign(tf.add(v, tf.randomNormal(v.shape, 0, f.scale * rms, "float32", rng.int(2 ** 31))));
        }
      });
    }
    this.faultsFired.add(label);
    this.run.append("decisions.jsonl", { step, action: "inject", plugin: "trainer", fault: label, reason: `injected fault ${label}`, time: new Date().toISOString() });
    this.log.warn(`injected fault ${label} at step ${step}`);
  }

  // ---------------------------------------------------------------- verdicts

  private askVerdict(hook: "shouldSkipStep" | "shouldHalt", ctx: StepContext): Verdict | undefined {
    const v = this.hooks[hook].call(ctx);
    if (!v) return undefined;
    const allowed = ALLOWED_ACTIONS[hook] as readonly string[];
    if (!allowed.includes(v.action)) {
      throw new PluginError(v.plugin ?? "unknown", hook, `plugin '${v.plugin}' returned action '${v.action}' from ${hook}; allowed there: ${allowed.join(", ")}`);
    }
    return v;
  }

  /** Carry out a verdict, record it, and say what happened. */
  private carryOut(v: Verdict, ctx: StepContext): "skip" | "reduce-lr" | "rollback" | "halt" {
    let outcome: string;
    let done: "skip" | "reduce-lr" | "rollback" | "halt" = v.action;
    switch (v.action) {
      case "skip":
        outcome = "update skipped";
        break;
      case "reduce-lr": {
        const factor = v.lrFactor ?? 0.5;
        const steps = v.lrSteps ?? 50;
        this.lrReduction = { factor, untilStep: ctx.step + steps - 1 };
        outcome = `LR x${factor} for steps ${ctx.step}-${ctx.step + steps - 1}`;
        break;
      }
      case "rollback": {
        const good = latestGoodCheckpoint(this.run.checkpoints);
        if (!good) {
          done = "halt";
          outcome = "no checkpoint tagged good to roll back to: halted instead";
          break;
        }
        const ckpt = loadCheckpoint(good);
        this.model.setWeights(ckpt.weights);
        if (ckpt.optimizer) this.optimizer.importState(ckpt.optimizer);
        this.restoreRunState(ckpt, "rollback");
        if (v.skipSamples?.length) {
          for (const id of v.skipSamples) this.skipSamples.add(id);
          this.data.train.skip?.(v.skipSamples);
        }
        this.run.truncateAfter(this.step);
        outcome = `rolled back to step ${ckpt.state.step} (${good})`;
        break;
      }
      case "halt":
        outcome = "run halted";
        break;
    }
    const record: VerdictRecord = { ...v, step: ctx.step, outcome, time: new Date().toISOString() };
    this.verdicts.push(record);
    this.lastVerdictStep = ctx.step;
    this.run.append("decisions.jsonl", record);
    this.log.warn(formatVerdict(record));
    this.hooks.verdict.call(record);
    return done;
  }

  // ---------------------------------------------------------------- eval and checkpoints

  private async evaluate(): Promise<EvalResult> {
    await this.hooks.evalStart.promise({ step: this.step });
    const score = evaluateBatches(this.model, this.data.heldout, this.tokenizer);
    const others = this.data.heldoutBySource.length ? evaluateBatches(this.model, this.data.heldoutBySource, this.tokenizer).perSource : {};
    const result: EvalResult = { step: this.step, heldoutLoss: score.loss, heldoutBpb: score.bpb, perSource: { ...score.perSource, ...others } };
    await this.hooks.evalEnd.promise(result);
    return result;
  }

  private async checkpoint(tag: CheckpointTag, reason?: string): Promise<string> {
    const pluginStates: Record<string, unknown> = {};
    for (const p of this.plugins) if (p.state) pluginStates[p.name] = p.state();
    const rng: Record<string, object> = { ...this.pendingRngStates };
    for (const [label, r] of this.rngs) rng[label] = r.state();
    const optimizer = this.optimizer.exportState();
    const state: CheckpointState = {
      format: "mtx-checkpoint/1",
      step: this.step,
      tokens: this.tokens,
      flops: this.flops,
      lr: this.lastLr,
      model: this.model.config,
      tag,
      reason,
      hasOptimizer: true,
      optimizerStep: optimizer.step,
      rng,
      dataCursor: this.data.train.cursor(),
      plugins: pluginStates,
      trainer: { ...(this.lrReduction ? { lrReduction: this.lrReduction } : {}), skipSamples: [...this.skipSamples], faultsFired: [...this.faultsFired], baseCompute: this.baseCompute },
      config: this.config,
      backend: describeBackend(this.backend),
      versions: { mtx: packageVersion(), tfjs: tf.version.tfjs, node: process.version },
      createdAt: new Date().toISOString(),
    };
    this.writeMixtureAudit();
    const dir = saveCheckpoint(this.run.checkpoints, { state, weights: this.model.getWeights(), optimizer, tokenizerJson: this.tokenizer.json }, { keepLast: this.config.checkpoint.keepLast });
    await this.hooks.checkpointSaved.promise({ step: this.step, dir, tag });
    return dir;
  }

  /** `suspect` when a verdict was carried out within checkpoint.suspectWindow steps, else `good`. */
  private guardrailTag(): CheckpointTag {
    return this.step - this.lastVerdictStep <= this.config.checkpoint.suspectWindow ? "suspect" : "good";
  }

  /** RUN/mixture.json: scheduled vs realised share per group, per-source counts, quality report. */
  private writeMixtureAudit(): void {
    const m = this.data.mixture;
    this.run.writeJson("mixture.json", {
      recipe: this.data.recipe.recipe.name,
      origin: this.data.recipe.recipe.origin,
      ...this.data.train.report(),
      quality: m.report,
      nearDuplicateClusters: m.nearDuplicateClusters.length,
      badRecords: m.issues.length,
    });
  }

  private async shutdown(status: RunStatus): Promise<void> {
    try {
      await this.hooks.shutdown.promise({ status });
    } catch (error) {
      this.log.warn(`shutdown: ${describeError(error)}`);
    }
    this.releaseCores();
    await this.dataParallel?.close();
    this.optimizer?.dispose();
    this.model?.dispose();
    this.run.close();
  }
}

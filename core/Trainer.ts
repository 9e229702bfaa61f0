/**
 * The training loop. It owns *when* and *why*: the data stream, the schedule, the hooks, the verdicts and
 * the records. An engine (engine/Engine.ts) owns the tensors. Data flows one way:
 * config -> trainer -> hooks -> plugins -> verdicts back to the trainer. Where each hook fires: hooks.ts.
 */
import { resolve, sep } from "node:path";
import { latestGoodCheckpoint, saveCheckpointWith, stepDirName, verifyCheckpoint, type CheckpointState, type CheckpointTag } from "./checkpoint/Checkpoint.js";
import type { ConfigChange } from "./config/resume.js";
import type { EffectiveConfig, ModelConfig } from "./config/types.js";
import type { Batch } from "./data/batch.js";
import { buildRunData, labelledRows, type RunData } from "./data/pipeline.js";
import { sourceName } from "./data/sources/catalog.js";
import type { Tokenizer } from "./data/tokenizer/Tokenizer.js";
import { createEngine } from "./engine/index.js";
import type { Engine, EngineInfo, ProcessMemory } from "./engine/Engine.js";
import { scoreRows } from "./engine/LanguageModel.js";
import { ConfigError, describeError, ExitCodes, exitCodeFor, PluginError } from "./errors.js";
import { createHooks, type EvalResult, type RunContext, type RunSummary, type StepContext, type StepMetrics, type TrainerHooks } from "./hooks.js";
import { guardTaps, type TapGuard } from "./interceptor.js";
import { adapterTargets, forwardFlops, trainFlopsPerToken } from "./model/Transformer.js";
import { countingPool } from "./pool/ProbePool.js";
import { learningRate, type ResolvedSchedule } from "./optim/schedules.js";
import { packageVersion } from "./paths.js";
import type { Logger, MtxPlugin, OnErrorPolicy, TrainerApi } from "./plugin.js";
import type { Rng } from "./rng.js";
import type { RunStatus } from "./run/records.js";
import { RunDir, type JsonlRecordFile } from "./run/RunDir.js";
import { FaultPlugin } from "./train/FaultPlugin.js";
import { FreezePlugin } from "./train/FreezePlugin.js";
import { RunState } from "./train/RunState.js";
import { prepareStart, type Start } from "./train/setup.js";
import { Verdicts } from "./train/verdicts.js";

export interface TrainerOptions {
  /** Continue the run in `config.out` from its latest checkpoint. */
  resume?: boolean;
  /** onError policy per plugin name (default: halt). */
  policies?: Record<string, OnErrorPolicy>;
  log?: Logger;
  /** On --resume: the config fields this resume changes (recorded in decisions.jsonl). */
  configChanges?: ConfigChange[];
  /** The engine to train on (default: the one the config names). */
  engine?: Engine;
}

type StopSignal = "SIGINT" | "SIGTERM";
type Halt = NonNullable<RunSummary["halt"]>;
/** How a step ended: it happened, it was rolled back (it did not happen), or it halted the run. */
type StepEnd = { kind: "done"; ctx: StepContext } | { kind: "rolled-back" } | { kind: "halt"; halt: Halt; ctx?: StepContext };

const silent: Logger = { info() {}, warn() {} };

export class Trainer implements TrainerApi {
  readonly hooks: TrainerHooks = createHooks();
  readonly config: EffectiveConfig;
  readonly log: Logger;
  private readonly runPath: string;
  private readonly plugins: MtxPlugin[];
  private readonly state: RunState;
  private readonly verdicts: Verdicts;
  private stopSignal: StopSignal | undefined;
  private deferred: { step: number; work: Promise<unknown> }[] = [];
  /** Plugin numbers for the current step's line of metrics.jsonl. */
  private pluginMetrics: Record<string, number> = {};
  private readonly tapErrors: TapGuard;

  // Set when train() starts.
  private run!: RunDir;
  private engine!: Engine;
  private engineInfo: EngineInfo | undefined;
  private start!: Start;
  private data!: RunData;
  private schedule!: ResolvedSchedule;
  private freeze!: FreezePlugin;
  private started = 0;
  /** The step in progress (for recording a step a plugin error interrupted). */
  private current: StepContext | undefined;

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
    this.state = new RunState(config.seed);
    const names = new Set<string>();
    for (const p of plugins) {
      if (names.has(p.name)) throw new PluginError(p.name, undefined, `plugin '${p.name}' is listed twice`);
      names.add(p.name);
    }
    this.plugins = [...plugins];
    const policyOf = (name: string) => options.policies?.[name] ?? "halt";
    this.tapErrors = guardTaps(this.hooks, { policyOf, onError: ({ error, policy }) => this.pluginErrorRecorded(error, policy) });
    this.verdicts = new Verdicts({
      hooks: this.hooks,
      state: this.state,
      policyOf,
      record: (d) => this.record(d),
      pluginError: (error) => this.tapErrors.report(error),
      warn: (m) => this.log.warn(m),
      rollback: (samples) => this.rollback(samples),
    });
    for (const p of plugins) p.apply(this);
  }

  // ---------------------------------------------------------------- the plugin API

  get runDir(): string {
    return this.runPath;
  }

  /** Whether this trainer opened its run directory as its writer (false when refused before: a bad --out, another writer's lock). */
  get wroteRunDir(): boolean {
    return this.run !== undefined;
  }

  rng(label: string): Rng {
    return this.state.rng(label);
  }

  logMetrics(values: Record<string, number>, measuredAtStep?: number): void {
    if (measuredAtStep === undefined || measuredAtStep === this.state.step + 1) Object.assign(this.pluginMetrics, values);
    else this.run.append("metrics.jsonl", { step: measuredAtStep, late: true, arrivedAtStep: this.state.step, ...values });
  }

  warn(plugin: string, reason: string, evidence?: Record<string, unknown>): void {
    this.record({ step: this.state.step, action: "warn", plugin, reason, evidence, time: new Date().toISOString() });
    this.log.warn(`[${plugin}] warning at step ${this.state.step}: ${reason}`);
  }

  defer(step: number, work: Promise<unknown>): void {
    this.deferred.push({ step, work });
  }

  /** Ask the loop to stop after the current step, save a checkpoint and exit 130 / 143. */
  requestStop(signal: StopSignal): void {
    this.stopSignal = signal;
  }

  // ---------------------------------------------------------------- the run

  /** Run to the end (or a halt or a stop). Errors are rethrown after summary, failure and shutdown. */
  async train(): Promise<RunSummary> {
    // The run directory is this process's alone from here on (a second writer gets exit 2).
    this.run = RunDir.openForWriting(this.config.out, { resume: !!this.options.resume, onMoved: (to) => this.log.info(`${this.config.out} held an earlier run: moved it to ${to}`) });
    if (this.config.log.tensorboard) this.run.streamToTensorboard();
    const started = (this.started = performance.now());
    let status: RunStatus = "failed";
    let halt: Halt | undefined;
    let lastEval: EvalResult | undefined;
    let lastCheckpoint: string | undefined;
    let peakMemory: ProcessMemory[] | undefined;
    const summarize = (exitCode: number, error?: unknown) => this.summary(status, exitCode, started, { halt, lastEval, lastCheckpoint, error, peakMemory });
    try {
      await this.prepare();
      await this.hooks.runStart.promise(this.runContext());
      const canEval = this.data.heldout.length > 0;
      if (!canEval) this.log.info("held-out evaluation: none (no source of this recipe holds documents out)");
      while (this.state.step < this.config.steps && !this.stopSignal) {
        const end = await this.guardPluginHalt(() => this.runStep());
        if (end.kind === "rolled-back") continue;
        if (end.kind === "halt") {
          halt = end.halt;
          if (end.ctx) this.writeMetrics(end.ctx);
          break;
        }
        const step = this.state.step;
        const last = step === this.config.steps;
        if (canEval && ((this.config.eval.every > 0 && step % this.config.eval.every === 0) || last)) lastEval = await this.evaluate(end.ctx);
        this.writeMetrics(end.ctx);
        if ((this.config.checkpoint.every > 0 && step % this.config.checkpoint.every === 0) || last) lastCheckpoint = await this.checkpoint(this.guardrailTag());
        // Steps may be synchronous: yield so signals (and worker results) get through.
        await new Promise<void>((r) => setImmediate(r));
      }
      // Work still deferred past the last step (a probe in a worker) finishes before the workers close.
      await this.settleDeferred(Infinity);
      if (halt) {
        status = "halted";
        lastCheckpoint = await this.checkpoint("halted", halt.reason);
        this.log.warn(`halted by ${halt.plugin}: ${halt.reason}`);
      } else if (this.stopSignal) {
        status = "interrupted";
        if (!lastCheckpoint?.endsWith(stepDirName(this.state.step))) lastCheckpoint = await this.checkpoint(this.guardrailTag());
        this.log.warn(`${this.stopSignal}: saved ${lastCheckpoint}; continue with --resume`);
      } else status = "completed";
      peakMemory = await this.engine.peakMemory();
      const exitCode = status === "halted" ? ExitCodes.halted : status === "interrupted" ? (this.stopSignal === "SIGINT" ? ExitCodes.interrupted : ExitCodes.terminated) : ExitCodes.ok;
      const summary = summarize(exitCode);
      this.run.writeJson("summary.json", summary);
      await this.hooks.runEnd.promise(summary);
      return summary;
    } catch (error) {
      status = "failed";
      try {
        this.run.writeJson("summary.json", summarize(exitCodeFor(error), error));
      } catch (inner) {
        this.log.warn(`summary.json not written: ${describeError(inner)}`);
      }
      try {
        await this.hooks.failure.promise({ step: this.state.step, error });
      } catch (inner) {
        this.log.warn(`while reporting the failure: ${describeError(inner)}`);
      }
      throw error;
    } finally {
      await this.shutdown(status);
    }
  }

  /** One step, in the order documented in hooks.ts. */
  private async runStep(): Promise<StepEnd> {
    this.current = undefined;
    const t0 = performance.now();
    const step = this.state.step + 1;
    await this.hooks.prepareStep.promise({ step });
    const mixtureWeights = this.mixtureWeights(step);
    this.data.train.setProgress((step - 1) / this.config.steps);
    const batch: Batch = this.hooks.transformBatch.call(this.data.train.next());
    const scheduled = learningRate(step, this.schedule);
    const lr = this.hooks.learningRate.call({ step, lr: scheduled * this.state.reductionAt(step), scheduled }).lr;
    const ctx: StepContext = { step, batch, lr, loss: NaN, totalLoss: NaN, terms: {}, termDetails: {}, gradNorm: NaN, sequenceLoss: new Float32Array(0), updateNorm: 0, skipped: false };
    this.current = ctx;
    this.hooks.stepStart.call(ctx);

    const { terms } = this.hooks.transformLoss.call({ step, batch, terms: [] });
    Object.assign(ctx, await this.engine.backward(batch, terms));
    this.hooks.afterBackward.call(ctx);
    const verdict = this.verdicts.ask("shouldSkipStep", ctx) ?? this.nonFinite(ctx);
    const outcome = verdict ? await this.verdicts.carryOut(verdict, ctx) : undefined;
    if (outcome === "rollback") return { kind: "rolled-back" };
    if (outcome === "reduce-lr") ctx.lr = this.hooks.learningRate.call({ step, lr: scheduled * this.state.reductionAt(step), scheduled }).lr;
    ctx.skipped = outcome === "skip" || outcome === "halt";
    if (ctx.skipped) await this.engine.discard();
    else ctx.updateNorm = (await this.engine.update(ctx.lr)).updateNorm;

    const tokens = batch.size * batch.seqLen;
    const ms = performance.now() - t0;
    this.state.advance(step, tokens, tokens * trainFlopsPerToken(this.start.model, batch.seqLen), ctx.lr, ctx.loss, ms);
    ctx.metrics = this.stepMetrics(ctx, mixtureWeights, ms);
    this.hooks.stepEnd.call(ctx);
    if (outcome === "halt") return { kind: "halt", halt: haltOf(verdict!), ctx };

    await this.settleDeferred(step);
    const late = this.verdicts.ask("shouldHalt", ctx);
    const lateOutcome = late ? await this.verdicts.carryOut(late, ctx) : undefined;
    if (lateOutcome === "rollback") return { kind: "rolled-back" };
    if (lateOutcome === "halt") return { kind: "halt", halt: haltOf(late!), ctx };
    return { kind: "done", ctx };
  }

  // ---------------------------------------------------------------- setup

  private async prepare(): Promise<void> {
    this.start = prepareStart(this.config, { resume: !!this.options.resume, runDir: this.run, log: this.log });
    this.engine = this.options.engine ?? (await createEngine(this.config, (l) => this.log.info(l)));
    const s = this.start;
    this.freeze = new FreezePlugin(s.model, this.config.freeze, { setFrozen: (names) => this.engine.setFrozen(names), record: (d) => this.record(d) });
    const initialFrozen = [...this.freeze.plan(s.resumeState?.step ?? 0).frozen];
    this.engineInfo = await this.engine.start({ model: s.model, optimizer: this.config.optimizer, tokenizer: s.tokenizer, seed: this.config.seed, from: s.from ? { dir: s.from.dir, optimizer: s.from.withOptimizer, loaded: s.from.loaded } : undefined, frozen: initialFrozen, batchSize: this.config.data.batchSize });
    this.log.info(`engine: ${this.engineInfo.description}`);
    if (s.resetOptimizer) this.record({ step: s.from?.state.step ?? 0, action: "reset-optimizer", plugin: "trainer", reason: s.resetOptimizer, time: new Date().toISOString() });

    this.data = buildRunData(this.config, s.tokenizer, s.model.contextLength, this.log);
    this.schedule = s.schedule;
    this.run.writeJson("config.json", this.config);
    // Built-in plugins after the user's: faults corrupt the batch last; freezing follows the plan.
    const faults = new FaultPlugin(this.config.inject, { perturb: (scale, seed) => this.engine.perturb(scale, seed), record: (d) => this.record(d), vocabSize: () => s.model.vocabSize });
    for (const p of [faults, this.freeze]) {
      this.plugins.push(p);
      p.apply(this);
    }

    if (s.resumeState) {
      this.restoreFrom(s.resumeState, "resume");
      this.run.truncateAfter(this.state.step);
      this.record({ step: this.state.step, action: "resume", plugin: "trainer", reason: `resumed at step ${this.state.step} from ${s.from!.dir}`, time: new Date().toISOString() });
      const changes = this.options.configChanges ?? [];
      if (changes.length) {
        const reason = `resumed with ${changes.map((c) => `${c.field} ${JSON.stringify(c.before)} -> ${JSON.stringify(c.after)}`).join(", ")}`;
        this.record({ step: this.state.step, action: "config-change", plugin: "trainer", reason, evidence: { changes }, time: new Date().toISOString() });
        this.log.info(reason);
      }
      this.log.info(`resumed at step ${this.state.step} from ${s.from!.dir}`);
    } else if (s.from) {
      this.state.startFrom(s.from.state);
      this.log.info(`starting from ${s.from.dir} (step ${s.from.state.step} of its run)`);
      this.continueDataStream(s.from.state);
    }
    await this.freeze.sync(this.state.step);
    this.log.info(`model: ${this.engineInfo.parameters.toLocaleString("en-US")} parameters, context ${s.model.contextLength} (${s.ropeText}), batch ${this.config.data.batchSize}`);
    this.log.info(`kernels: ${Object.entries(this.engineInfo.kernels).filter(([k]) => k !== "backend").map(([k, v]) => `${k} ${v}`).join("; ")}`);
    this.log.info(`trainable: ${this.freeze.trainableParams.toLocaleString("en-US")} of ${this.engineInfo.parameters.toLocaleString("en-US")} parameters` + (this.freeze.frozenCount ? ` (${this.freeze.frozenCount} tensors frozen)` : "") + (s.model.adapters ? `; adapters rank ${s.model.adapters.rank} on ${adapterTargets(s.model, s.model.adapters).length} matrices` : ""));
  }

  private runContext(): RunContext {
    const s = this.start;
    return {
      config: this.config,
      runDir: this.run.path,
      model: this.engine.model,
      modelConfig: s.model,
      tokenizer: s.tokenizer,
      engine: this.engineInfo!,
      startStep: this.state.step,
      totalSteps: this.config.steps,
      resumed: !!this.options.resume,
      from: s.from?.dir,
      data: {
        recipe: this.data.recipe.recipe.name,
        groups: this.data.mixture.groups.map((g) => ({ name: g.name, weight: g.weight, replay: g.replay, sources: g.sources.map(sourceName) })),
        heldout: this.data.mixture.heldout,
      },
      loadModel: (dir) => this.engine.loadModel(dir),
      snapshot: () => this.engine.snapshot(),
      openProbePool: () => countingPool(this.engine.probePool(), (c) => this.state.spendForward("probe", c.flops)),
    };
  }

  /**
   * A new run on the same data stream as its starting checkpoint (same sources, seed and sequence length)
   * continues where that run stopped, so it does not replay sequences the checkpoint was trained on.
   */
  private continueDataStream(from: CheckpointState): void {
    const prev = from.config as Partial<EffectiveConfig> | undefined;
    const same = from.dataCursor && prev?.seed === this.config.seed && prev?.data?.recipe === this.config.data.recipe && from.model.contextLength === this.start.model.contextLength;
    if (!same) return;
    try {
      this.data.train.restore(from.dataCursor!);
      this.log.info(`continuing the starting checkpoint's data stream`);
    } catch {
      // A cursor of another data layout: start the stream afresh.
    }
  }

  // ---------------------------------------------------------------- the step's parts

  private mixtureWeights(step: number): Record<string, number> {
    const current = this.data.train.weights();
    const recipe = Object.fromEntries(this.data.mixture.groups.map((g) => [g.name, g.weight]));
    const mix = this.hooks.mixtureWeights.call({ step, weights: current, recipe });
    if (mix.weights !== current) this.data.train.setWeights(mix.weights);
    return this.data.train.weights();
  }

  /**
   * A non-finite loss or gradient that no plugin skipped is fatal (as in Megatron): the update is not applied
   * and the run halts with the batch's provenance.
   */
  private nonFinite(ctx: StepContext): ReturnType<Verdicts["ask"]> {
    const bad = ([["loss", ctx.loss], ["total loss", ctx.totalLoss], ["gradient norm", ctx.gradNorm]] as const).find(([, v]) => !Number.isFinite(v));
    if (!bad) return undefined;
    return { action: "halt", plugin: "trainer", reason: `non-finite ${bad[0]} (${bad[1]}) at step ${ctx.step}; the update was not applied`, evidence: { loss: String(ctx.loss), totalLoss: String(ctx.totalLoss), gradNorm: String(ctx.gradNorm), samples: ctx.batch.samples.map((s) => s.id), sources: ctx.batch.samples.map((s) => s.source) } };
  }

  /** The step's line of metrics.jsonl, built once, before stepEnd (which promises it complete). */
  private stepMetrics(ctx: StepContext, mixtureWeights: Record<string, number>, stepTimeMs: number): StepMetrics {
    const sums: Record<string, number> = {};
    const counts: Record<string, number> = {};
    ctx.batch.samples.forEach((s, i) => {
      sums[s.source] = (sums[s.source] ?? 0) + ctx.sequenceLoss[i]!;
      counts[s.source] = (counts[s.source] ?? 0) + 1;
    });
    const sourceLoss = Object.fromEntries(Object.keys(sums).map((k) => [k, sums[k]! / counts[k]!]));
    const tokens = ctx.batch.size * ctx.batch.seqLen;
    return { step: ctx.step, loss: ctx.loss, totalLoss: ctx.totalLoss, terms: ctx.terms, gradNorm: ctx.gradNorm, updateNorm: ctx.updateNorm, lr: ctx.lr, tokens: this.state.tokens, tokensPerSec: tokens / (stepTimeMs / 1000), stepTimeMs, time: Date.now(), sourceLoss, skipped: ctx.skipped, mixtureWeights, trainableParams: this.freeze.trainableParams };
  }

  /** Write the step's line: its metrics, plugin numbers logged during the step, and held-out fields. */
  private writeMetrics(ctx: StepContext): void {
    this.run.append("metrics.jsonl", { ...ctx.metrics, ...this.pluginMetrics });
    this.pluginMetrics = {};
  }

  /** Await the deferred work due at or before `step`. */
  private async settleDeferred(step: number): Promise<void> {
    const due = this.deferred.filter((d) => d.step <= step);
    if (!due.length) return;
    this.deferred = this.deferred.filter((d) => d.step > step);
    await Promise.all(due.map((d) => d.work));
  }

  /**
   * A plugin error under the `halt` policy during the steps halts the run as a guardrail would: status
   * halted, exit 3, a checkpoint tagged halted, the plugin and hook named in the summary.
   */
  private async guardPluginHalt(body: () => Promise<StepEnd>): Promise<StepEnd> {
    try {
      return await body();
    } catch (error) {
      if (!(error instanceof PluginError) || error.hook === undefined) throw error;
      await this.engine.discard();
      // A step whose update was applied before the throw is recorded; one that threw earlier did not happen.
      const ctx = this.current?.metrics ? this.current : undefined;
      return { kind: "halt", halt: { plugin: error.plugin, reason: error.message, evidence: { hook: error.hook, onError: "halt" } }, ctx };
    }
  }

  private pluginErrorRecorded(error: PluginError, policy: OnErrorPolicy): void {
    this.log.warn(`${error.message} (onError: ${policy})`);
    this.run?.append("decisions.jsonl", { step: this.state.step, action: "plugin-error", plugin: error.plugin, hook: error.hook, policy, reason: error.message, time: new Date().toISOString() });
  }

  private record(decision: Record<string, unknown>): void {
    this.run.append("decisions.jsonl" satisfies JsonlRecordFile, decision);
  }

  // ---------------------------------------------------------------- eval, checkpoints, rollback

  private async evaluate(ctx: StepContext): Promise<EvalResult> {
    await this.hooks.evalStart.promise({ step: this.state.step });
    const model = this.engine.model;
    const score = await scoreRows(model, this.data.heldout.map(labelledRows));
    const others = this.data.heldoutBySource.length ? (await scoreRows(model, this.data.heldoutBySource.map(labelledRows))).perSource : {};
    for (const b of [...this.data.heldout, ...this.data.heldoutBySource]) this.state.spendForward("eval", forwardFlops(this.start.model, b.size * b.seqLen, b.seqLen));
    const result: EvalResult = { step: this.state.step, heldoutLoss: score.loss, heldoutBpb: score.bpb, perSource: { ...score.perSource, ...others } };
    ctx.metrics!.heldoutLoss = result.heldoutLoss;
    ctx.metrics!.heldoutBpb = result.heldoutBpb;
    await this.hooks.evalEnd.promise(result);
    return result;
  }

  private async checkpoint(tag: CheckpointTag, reason?: string): Promise<string> {
    const pluginStates: Record<string, unknown> = {};
    for (const p of this.plugins) if (p.state) pluginStates[p.name] = p.state();
    const info = this.engineInfo!;
    const state: CheckpointState = {
      format: "mtx-checkpoint/1",
      step: this.state.step,
      tokens: this.state.tokens,
      flops: this.state.flops,
      lr: this.state.lastLr,
      model: this.start.model,
      tag,
      reason,
      hasOptimizer: true,
      optimizerStep: 0,
      rng: this.state.rngStates(),
      dataCursor: this.data.train.cursor(),
      plugins: pluginStates,
      run: { ...this.state.toJSON(), progress: { ...this.state.progress, wallTimeSec: this.state.progress.wallTimeSec + (performance.now() - this.started) / 1000 } },
      config: this.config,
      engine: `${info.kind}: ${info.description}`,
      backend: info.description,
      versions: { mtx: packageVersion(), node: process.version, ...info.versions },
      createdAt: new Date().toISOString(),
    };
    this.writeMixtureAudit();
    const dir = await saveCheckpointWith(this.run.checkpoints, state, this.start.tokenizer.json, async (tmp) => {
      state.optimizerStep = (await this.engine.writeTensors(tmp)).optimizerStep;
    }, { keepLast: this.config.checkpoint.keepLast });
    await this.hooks.checkpointSaved.promise({ step: this.state.step, dir, tag });
    return dir;
  }

  /** `suspect` when a verdict was carried out within checkpoint.suspectWindow steps, else `good`. */
  private guardrailTag(): CheckpointTag {
    const last = this.state.lastVerdictStep;
    return last !== null && this.state.step - last <= this.config.checkpoint.suspectWindow ? "suspect" : "good";
  }

  private async rollback(samples: string[]): Promise<{ step: number; dir: string } | undefined> {
    const good = latestGoodCheckpoint(this.run.checkpoints);
    if (!good) return undefined;
    const { state } = verifyCheckpoint(good);
    await this.engine.restore(good);
    this.state.skipSamples = [...new Set([...this.state.skipSamples, ...samples])];
    this.restoreFrom(state, "rollback");
    await this.freeze.restoreAt(this.state.step);
    this.run.truncateAfter(this.state.step);
    this.pluginMetrics = {};
    return { step: state.step, dir: good };
  }

  /** The run state, data cursor and plugin states of a checkpoint of this run. */
  private restoreFrom(ckpt: CheckpointState, reason: "resume" | "rollback"): void {
    this.state.restore(ckpt, reason);
    if (ckpt.dataCursor) this.data.train.restore(ckpt.dataCursor);
    this.data.train.skip?.(this.state.skipSamples);
    for (const p of this.plugins) if (p.restore && ckpt.plugins[p.name] !== undefined) p.restore(ckpt.plugins[p.name], reason);
  }

  /** RUN/mixture.json: scheduled vs realised share per group, per-source counts, quality report. */
  private writeMixtureAudit(): void {
    const m = this.data.mixture;
    this.run.writeJson("mixture.json", { recipe: this.data.recipe.recipe.name, origin: this.data.recipe.recipe.origin, ...this.data.train.report(), quality: m.report, nearDuplicateClusters: m.nearDuplicateClusters.length, badRecords: m.issues.length });
  }

  // ---------------------------------------------------------------- the end

  private summary(status: RunStatus, exitCode: number, started: number, o: { halt?: Halt; lastEval?: EvalResult; lastCheckpoint?: string; error?: unknown; peakMemory?: ProcessMemory[] }): RunSummary {
    const p = this.state.progress;
    const engine = this.engineInfo ? `${this.engineInfo.kind}: ${this.engineInfo.description}` : "none";
    return {
      status,
      exitCode,
      runDir: this.run.path,
      steps: this.state.step - p.firstStep,
      startStep: p.firstStep,
      endStep: this.state.step,
      resumedAt: p.resumedAt,
      tokens: this.state.tokens,
      flops: this.state.flops,
      spent: { tokens: p.trainTokens, flops: p.trainFlops ?? 0, evalFlops: p.evalFlops ?? 0, probeFlops: p.probeFlops ?? 0 },
      firstLoss: p.firstLoss,
      lastLoss: p.lastLoss,
      heldout: o.lastEval ? { loss: o.lastEval.heldoutLoss, bpb: o.lastEval.heldoutBpb } : null,
      verdicts: this.verdicts.carriedOut,
      halt: o.halt,
      error: o.error === undefined ? undefined : describeError(o.error),
      engine,
      backend: this.engineInfo?.description ?? "none",
      wallTimeSec: p.wallTimeSec + (performance.now() - started) / 1000,
      tokensPerSec: p.trainMs > 0 ? p.trainTokens / (p.trainMs / 1000) : 0,
      lastCheckpoint: o.lastCheckpoint,
      from: this.start?.from?.dir,
      resetOptimizer: this.start?.resetOptimizer ? true : undefined,
      trainableParams: this.freeze?.trainableParams,
      base: this.state.baseCompute,
      kernels: this.engineInfo?.kernels,
      peakMemory: o.peakMemory,
    };
  }

  private async shutdown(status: RunStatus): Promise<void> {
    try {
      await this.hooks.shutdown.promise({ status });
    } catch (error) {
      this.log.warn(`shutdown: ${describeError(error)}`);
    }
    try {
      await this.engine?.close();
    } catch (error) {
      this.log.warn(`engine shutdown: ${describeError(error)}`);
    }
    this.run.close();
  }
}

function haltOf(v: { plugin: string; reason: string; evidence?: Record<string, unknown> }): Halt {
  return { plugin: v.plugin, reason: v.reason, evidence: v.evidence };
}

export type { ModelConfig, Tokenizer };

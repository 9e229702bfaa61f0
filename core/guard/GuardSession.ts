/**
 * Guarding a training loop mtx does not run: the user's loop (plain PyTorch, Hugging Face's Trainer,
 * Lightning) reports each step, and the same guardrail plugins that watch mtx's own loop answer with a
 * verdict the loop carries out: skip this update, scale the LR, roll back to a checkpoint, stop.
 *
 *   step(report)        after backward, before the optimizer step: afterBackward, shouldSkipStep
 *   endStep(report)     after the optimizer step: stepEnd, shouldHalt
 *   checkpoint(report)  the loop saved a checkpoint: tagged good or suspect, checkpointSaved
 *   finish()            summary.json, runEnd, shutdown
 *
 * The run directory has the usual records (metrics.jsonl, decisions.jsonl, summary.json), so `mtx report`
 * draws a guarded run like any other. Plugins that change what is trained (methods) cannot run here;
 * drift and probes measure the newest checkpoint the loop reported (mtx's format or a Hugging Face
 * directory), against `base` on the held-out text of the config's recipe.
 */
import { existsSync } from "node:fs";
import { verifyCheckpoint } from "../checkpoint/Checkpoint.js";
import { prepareMixture } from "../data/pipeline.js";
import { sourceName } from "../data/sources/catalog.js";
import { Tokenizer } from "../data/tokenizer/Tokenizer.js";
import { HF_PREFIX, resolveModelSource } from "../interop/modelSource.js";
import { join } from "node:path";
import type { EffectiveConfig } from "../config/types.js";
import type { Batch } from "../data/batch.js";
import type { ProbeTarget } from "../engine/Engine.js";
import type { LanguageModel } from "../engine/LanguageModel.js";
import { ConfigError, describeError, ExitCodes, PluginError } from "../errors.js";
import { createHooks, type CheckpointTag, type RunSummary, type StepContext, type TrainerHooks } from "../hooks.js";
import { guardTaps, type TapGuard } from "../interceptor.js";
import { PROBE_WORKER } from "../paths.js";
import type { Logger, MtxPlugin, OnErrorPolicy, TrainerApi, Verdict } from "../plugin.js";
import { PiscinaProbePool } from "../pool/PiscinaProbePool.js";
import type { Rng } from "../rng.js";
import type { RunStatus, StepMetrics } from "../run/records.js";
import { RunDir } from "../run/RunDir.js";
import { RunState } from "../train/RunState.js";
import { Verdicts } from "../train/verdicts.js";

/** What the loop reports after its backward pass. */
export interface StepReport {
  step: number;
  loss: number;
  gradNorm: number;
  /** The LR its schedule gives for this step (before any cut mtx asked for). */
  lr: number;
  /** Tokens in this step's batch. */
  tokens?: number;
  /** Ids of the batch's samples, so a rollback can name the data to skip. */
  samples?: string[];
  /** Sources of the samples (for per-source loss), in the same order. */
  sources?: string[];
  /** Any other numbers to record in metrics.jsonl. */
  metrics?: Record<string, number>;
}

/** What the loop should do. */
export interface GuardVerdict {
  action: "continue" | "skip" | "rollback" | "halt";
  /** Multiply the schedule's LR by this for the step (1 unless an LR cut is in force). */
  lrScale: number;
  plugin?: string;
  reason?: string;
  /** rollback: the checkpoint to load (the newest one reported while no guardrail was acting). */
  checkpoint?: string;
  /** rollback: the step that checkpoint was saved at, and sample ids not to train on again. */
  checkpointStep?: number;
  skipSamples?: string[];
}

interface ReportedCheckpoint {
  step: number;
  path: string;
  tag: CheckpointTag;
  pluginStates: Record<string, unknown>;
}

/** Guardrail plugins only: methods change what is trained, which the loop decides. */
const METHODS = new Set(["curriculum", "irl", "agentic", "contrastive"]);

export class GuardSession implements TrainerApi {
  readonly hooks: TrainerHooks = createHooks();
  private readonly state: RunState;
  private readonly verdicts: Verdicts;
  private run!: RunDir;
  private current: StepContext | undefined;
  private pluginMetrics: Record<string, number> = {};
  private deferred: { step: number; work: Promise<unknown> }[] = [];
  private readonly checkpoints: ReportedCheckpoint[] = [];
  private readonly started = performance.now();
  private halted: RunSummary["halt"];
  private rollbackTo: ReportedCheckpoint | undefined;
  private closed = false;
  private readonly tapErrors: TapGuard;
  private readonly base: ReturnType<typeof verifyCheckpoint> | undefined;

  constructor(
    readonly config: EffectiveConfig,
    private readonly plugins: MtxPlugin[],
    private readonly options: { policies?: Record<string, OnErrorPolicy>; log?: Logger; base?: string; totalSteps?: number } = {},
  ) {
    // The base is checked here, before the guard binds its port: a wrong path is refused at once.
    this.base = options.base === undefined ? undefined : verifyCheckpoint(options.base, { withOptimizer: false });
    for (const p of plugins) if (METHODS.has(p.name)) throw new ConfigError(`plugin '${p.name}' changes what is trained and cannot run under mtx guard, which watches a loop it does not run: use guardrails (spike, drift, probes, longctx or your own)`);
    this.state = new RunState(config.seed);
    const policyOf = (name: string) => options.policies?.[name] ?? "halt";
    this.tapErrors = guardTaps(this.hooks, { policyOf, onError: ({ error, policy }) => this.recordPluginError(error, policy) });
    this.verdicts = new Verdicts({
      hooks: this.hooks,
      state: this.state,
      policyOf,
      record: (d) => this.run.append("decisions.jsonl", d),
      pluginError: (error) => this.tapErrors.report(error),
      warn: (m) => this.log.warn(m),
      rollback: async (samples) => {
        const good = [...this.checkpoints].reverse().find((c) => c.tag === "good");
        if (!good) return undefined;
        this.state.skipSamples = [...new Set([...this.state.skipSamples, ...samples])];
        this.state.step = good.step;
        for (const p of this.plugins) if (p.restore && good.pluginStates[p.name] !== undefined) p.restore(good.pluginStates[p.name], "rollback");
        this.run.truncateAfter(good.step);
        this.rollbackTo = good;
        return { step: good.step, dir: good.path };
      },
    });
    for (const p of plugins) p.apply(this);
  }

  get log(): Logger {
    return this.options.log ?? { info() {}, warn() {} };
  }

  get runDir(): string {
    return this.run.path;
  }

  rng(label: string): Rng {
    return this.state.rng(label);
  }

  logMetrics(values: Record<string, number>, measuredAtStep?: number): void {
    if (measuredAtStep === undefined || measuredAtStep === this.current?.step) Object.assign(this.pluginMetrics, values);
    else this.run.append("metrics.jsonl", { step: measuredAtStep, late: true, arrivedAtStep: this.state.step, ...values });
  }

  warn(plugin: string, reason: string, evidence?: Record<string, unknown>): void {
    this.run.append("decisions.jsonl", { step: this.state.step, action: "warn", plugin, reason, evidence, time: new Date().toISOString() });
    this.log.warn(`[${plugin}] warning at step ${this.state.step}: ${reason}`);
  }

  defer(step: number, work: Promise<unknown>): void {
    this.deferred.push({ step, work });
  }

  private recordPluginError(error: PluginError, policy: OnErrorPolicy): void {
    this.log.warn(`${error.message} (onError: ${policy})`);
    this.run?.append("decisions.jsonl", { step: this.state.step, action: "plugin-error", plugin: error.plugin, hook: error.hook, policy, reason: error.message, time: new Date().toISOString() });
  }

  /** Lock the run directory and start the plugins. */
  async open(): Promise<void> {
    this.run = RunDir.openForWriting(this.config.out, { resume: false, onMoved: (to) => this.log.info(`${this.config.out} held an earlier run: moved it to ${to}`) });
    if (this.config.log?.tensorboard !== false) this.run.streamToTensorboard();
    this.run.writeJson("config.json", { ...this.config, guard: { base: this.options.base ?? null } });
    const unavailable = (what: string) => () => {
      throw new ConfigError(`${what} is not available under mtx guard: the model lives in the loop being guarded`);
    };
    let pool: PiscinaProbePool | undefined;
    // With --base, drift and probes have what the loop's own run would give them: the base's tokenizer and
    // model shape, and the held-out documents of the config's recipe (general replay text by default).
    const base = this.base;
    const tokenizer = base ? new Tokenizer(base.tokenizerJson) : undefined;
    const mixture = base ? prepareMixture(this.config.data.recipe, { strict: this.config.data.strict, cache: this.config.data.cache, log: this.log }).mixture : undefined;
    await this.hooks.runStart.promise({
      config: this.config,
      runDir: this.run.path,
      model: new Proxy({} as LanguageModel, { get: unavailable("the live model") }),
      modelConfig: (base?.state.model ?? this.config.model) as never,
      tokenizer: (tokenizer ?? new Proxy({}, { get: unavailable("a tokenizer (give --base, the checkpoint the loop started from)") })) as never,
      engine: { kind: "tfjs", description: "mtx guard (the loop runs elsewhere)", kernels: {}, parameters: 0, lossTerms: [], versions: {} },
      startStep: 0,
      totalSteps: this.options.totalSteps ?? this.config.steps,
      resumed: false,
      from: this.options.base,
      data: mixture
        ? { recipe: this.config.data.recipe, groups: mixture.groups.map((g) => ({ name: g.name, weight: g.weight, replay: g.replay, sources: g.sources.map(sourceName) })), heldout: mixture.heldout }
        : { recipe: "guarded loop", groups: [], heldout: {} },
      loadModel: unavailable("loading a model"),
      snapshot: async (): Promise<ProbeTarget> => {
        const c = this.checkpoints.at(-1);
        if (!c) throw new ConfigError("no checkpoint has been reported yet: drift and probes measure the loop's newest checkpoint (guard.checkpoint(step, path))");
        // mtx's format as it is; a Hugging Face directory (save_pretrained, HF Trainer's checkpoint-N) imported.
        const dir = existsSync(join(c.path, "manifest.json")) ? c.path : resolveModelSource(`${HF_PREFIX}${c.path}`);
        return { kind: "checkpoint", dir, step: c.step };
      },
      openProbePool: () => (pool = new PiscinaProbePool(PROBE_WORKER, { threads: 1 })),
    });
    void pool;
  }

  private batchOf(r: StepReport): Batch {
    const n = r.samples?.length ?? 1;
    const samples = Array.from({ length: n }, (_, i) => ({ id: r.samples?.[i] ?? `step-${r.step}`, source: r.sources?.[i] ?? "batch", documents: [], boundaries: [] }));
    return { size: n, seqLen: Math.max(1, Math.round((r.tokens ?? n) / n)), inputs: new Int32Array(0), targets: new Int32Array(0), samples };
  }

  private answer(v: Verdict | undefined, outcome: string | undefined, step: number): GuardVerdict {
    const lrScale = this.state.reductionAt(step);
    if (!v || !outcome || outcome === "reduce-lr") return { action: "continue", lrScale, plugin: v?.plugin, reason: v?.reason };
    if (outcome === "rollback") {
      const to = this.rollbackTo!;
      this.rollbackTo = undefined;
      return { action: "rollback", lrScale, plugin: v.plugin, reason: v.reason, checkpoint: to.path, checkpointStep: to.step, skipSamples: this.state.skipSamples };
    }
    if (outcome === "halt") this.halted = { plugin: v.plugin, reason: v.reason, evidence: v.evidence };
    return { action: outcome as "skip" | "halt", lrScale, plugin: v.plugin, reason: v.reason };
  }

  /** The loop's report after backward, before its optimizer step: skip, cut the LR, roll back or stop. */
  async step(r: StepReport): Promise<GuardVerdict> {
    if (this.halted) return { action: "halt", lrScale: 1, plugin: this.halted.plugin, reason: this.halted.reason };
    if (this.current) this.flush();
    const batch = this.batchOf(r);
    const lr = r.lr * this.state.reductionAt(r.step);
    const ctx: StepContext = { step: r.step, batch, lr, loss: r.loss, totalLoss: r.loss, terms: {}, termDetails: {}, gradNorm: r.gradNorm, sequenceLoss: new Float32Array(batch.size).fill(r.loss), updateNorm: 0, skipped: false };
    this.current = ctx;
    if (r.metrics) Object.assign(this.pluginMetrics, r.metrics);
    this.hooks.stepStart.call(ctx);
    this.hooks.afterBackward.call(ctx);
    try {
      const v = this.verdicts.ask("shouldSkipStep", ctx);
      const outcome = v ? await this.verdicts.carryOut(v, ctx) : undefined;
      if (outcome === "skip" || outcome === "halt") ctx.skipped = true;
      if (outcome === "rollback") this.current = undefined;
      const answer = this.answer(v, outcome, r.step);
      ctx.lr = r.lr * answer.lrScale;
      return answer;
    } catch (error) {
      return this.pluginHalt(error);
    }
  }

  /** The loop's report after its optimizer step (or the skip): observers run, a late guardrail may act. */
  async endStep(r: { step: number; updateNorm?: number }): Promise<GuardVerdict> {
    const ctx = this.current;
    if (!ctx || ctx.step !== r.step) return { action: this.halted ? "halt" : "continue", lrScale: this.state.reductionAt(r.step + 1) };
    ctx.updateNorm = ctx.skipped ? 0 : (r.updateNorm ?? 0);
    const tokens = ctx.batch.size * ctx.batch.seqLen;
    this.state.advance(r.step, tokens, 0, ctx.lr, ctx.loss, 0);
    ctx.metrics = this.metrics(ctx);
    try {
      this.hooks.stepEnd.call(ctx);
      await this.settleDeferred(r.step);
      const v = this.verdicts.ask("shouldHalt", ctx);
      const outcome = v ? await this.verdicts.carryOut(v, ctx) : undefined;
      this.flush();
      return this.answer(v, outcome, r.step + 1);
    } catch (error) {
      this.flush();
      return this.pluginHalt(error);
    }
  }

  private pluginHalt(error: unknown): GuardVerdict {
    if (!(error instanceof PluginError)) throw error;
    this.halted = { plugin: error.plugin, reason: error.message, evidence: { hook: error.hook, onError: "halt" } };
    return { action: "halt", lrScale: 1, plugin: error.plugin, reason: error.message };
  }

  private metrics(ctx: StepContext): StepMetrics {
    const sourceLoss: Record<string, number> = {};
    for (const s of ctx.batch.samples) sourceLoss[s.source] = ctx.loss;
    return { step: ctx.step, loss: ctx.loss, totalLoss: ctx.totalLoss, terms: {}, gradNorm: ctx.gradNorm, updateNorm: ctx.updateNorm, lr: ctx.lr, tokens: this.state.tokens, tokensPerSec: 0, stepTimeMs: 0, time: Date.now(), sourceLoss, skipped: ctx.skipped, mixtureWeights: {}, trainableParams: 0 };
  }

  private flush(): void {
    const ctx = this.current;
    this.current = undefined;
    if (!ctx) return;
    this.run.append("metrics.jsonl", { ...(ctx.metrics ?? this.metrics(ctx)), ...this.pluginMetrics });
    this.pluginMetrics = {};
  }

  private async settleDeferred(step: number): Promise<void> {
    const due = this.deferred.filter((d) => d.step <= step);
    this.deferred = this.deferred.filter((d) => d.step > step);
    await Promise.all(due.map((d) => d.work));
  }

  /** The loop saved a checkpoint at `step` (rollbacks go to the newest one tagged good). */
  async checkpoint(r: { step: number; path: string }): Promise<{ tag: CheckpointTag }> {
    const last = this.state.lastVerdictStep;
    const tag: CheckpointTag = last !== null && r.step - last <= this.config.checkpoint.suspectWindow ? "suspect" : "good";
    const pluginStates: Record<string, unknown> = {};
    for (const p of this.plugins) if (p.state) pluginStates[p.name] = structuredClone(p.state());
    this.checkpoints.push({ step: r.step, path: r.path, tag, pluginStates });
    this.run.append("decisions.jsonl", { step: r.step, action: "checkpoint", plugin: "guard", reason: `the loop saved ${r.path} (${tag})`, outcome: tag, time: new Date().toISOString() });
    await this.hooks.checkpointSaved.promise({ step: r.step, dir: r.path, tag });
    return { tag };
  }

  /** Write the summary and close the plugins. */
  async finish(status: RunStatus = this.halted ? "halted" : "completed"): Promise<RunSummary> {
    if (this.closed) throw new ConfigError("this guard session has already finished");
    this.closed = true;
    this.flush();
    await this.settleDeferred(Infinity);
    const p = this.state.progress;
    const summary: RunSummary = {
      status,
      exitCode: status === "halted" ? ExitCodes.halted : status === "failed" ? ExitCodes.internal : status === "interrupted" ? ExitCodes.terminated : ExitCodes.ok,
      runDir: this.run.path,
      steps: this.state.step,
      startStep: 0,
      endStep: this.state.step,
      resumedAt: [],
      tokens: this.state.tokens,
      flops: 0,
      firstLoss: p.firstLoss,
      lastLoss: p.lastLoss,
      heldout: null,
      verdicts: this.verdicts.carriedOut,
      halt: this.halted,
      engine: "guard: the loop runs elsewhere",
      backend: "guard",
      wallTimeSec: (performance.now() - this.started) / 1000,
      tokensPerSec: 0,
      lastCheckpoint: this.checkpoints.at(-1)?.path,
      from: this.options.base,
    };
    this.run.writeJson("summary.json", summary);
    try {
      await this.hooks.runEnd.promise(summary);
      await this.hooks.shutdown.promise({ status });
    } catch (error) {
      this.log.warn(`shutdown: ${describeError(error)}`);
    }
    this.run.close();
    return summary;
  }
}

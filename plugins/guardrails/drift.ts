/**
 * `drift`: semantic drift (forgetting of general knowledge) against the base model. Every `every` steps it
 * snapshots the weights and, off the step loop (a worker thread for the tfjs engine, the eval process for
 * the PyTorch engine), measures (a) held-out general bits per byte (the held-out documents of the replay
 * sources) against the base model's value, (b) the KL divergence between the base's and the current
 * model's next-token distributions on general text, and (c) bits per byte per source. The result is acted
 * on `lag` steps later: a warning past `warn`, and a halt or rollback verdict past `act`. Measurements go to
 * metrics.jsonl at the step they measured, as driftBpb, driftBaseBpb, driftDelta and driftKl.
 */
import { heldoutBatches, interleave, labelledRows } from "../../core/data/pipeline.js";
import type { ProbeTarget } from "../../core/engine/Engine.js";
import { describeError, PluginError } from "../../core/errors.js";
import type { RunContext } from "../../core/hooks.js";
import { resolveModelSource } from "../../core/interop/modelSource.js";
import type { MtxPlugin, PluginDefinition, ShouldHaltVerdict, TrainerApi } from "../../core/plugin.js";
import type { ProbePool } from "../../core/pool/ProbePool.js";
import type { DriftParams, DriftResult } from "../../probes/drift.js";
import type { ProbeResult } from "../../probes/types.js";
import schema from "./drift.schema.json" with { type: "json" };

const PLUGIN_NAME = "drift";

export interface DriftOptions {
  every: number;
  lag: number;
  base: string;
  warn: number;
  act: number;
  action: "halt" | "rollback";
  maxKl: number | null;
  batches: number;
  klBatches: number;
}

interface Measurement {
  step: number;
  bpb: number;
  baseBpb: number;
  delta: number;
  kl: number | null;
  perSource: Record<string, { bpb: number; baseBpb: number; delta: number }>;
}

interface DriftState {
  history: Measurement[];
  /** A measurement started but not acted on when the checkpoint was written (re-taken on resume). */
  pending?: number;
}

export class DriftPlugin implements MtxPlugin {
  static readonly pluginName = PLUGIN_NAME;
  readonly name = PLUGIN_NAME;
  private pool: ProbePool | undefined;
  private params!: DriftParams;
  private snapshot!: RunContext["snapshot"];
  private seed = 0;
  /** Result waiting to be acted on at `due`. */
  private ready: { due: number; m: Measurement } | undefined;
  private inflight: number | undefined;
  private history: Measurement[] = [];
  private totalSteps = Infinity;
  private resumePending: number | undefined;
  private lastMeasured: number | undefined;

  constructor(readonly options: DriftOptions) {}

  apply(trainer: TrainerApi): void {
    const { hooks } = trainer;
    hooks.runStart.tapPromise(PLUGIN_NAME, async (run) => {
      const base = this.options.base === "start" ? run.from : resolveModelSource(this.options.base);
      if (!base) throw new PluginError(PLUGIN_NAME, "runStart", "base 'start' needs a run that starts from a checkpoint; set options.base to a checkpoint directory");
      const replay = run.data.groups.filter((g) => g.replay).flatMap((g) => g.sources);
      const generalSources = replay.length ? replay : Object.keys(run.data.heldout);
      const interleaved = interleave(generalSources.map((s) => run.data.heldout[s] ?? []));
      if (!interleaved.length) throw new PluginError(PLUGIN_NAME, "runStart", "no held-out general documents to measure drift on; give the recipe a replay group");
      const seqLen = run.modelConfig.contextLength;
      const general = heldoutBatches(interleaved, run.tokenizer, seqLen, run.config.data.batchSize, this.options.batches).map(labelledRows);
      const others = Object.entries(run.data.heldout)
        .filter(([s]) => !replay.includes(s))
        .flatMap(([, docs]) => heldoutBatches(docs, run.tokenizer, seqLen, run.config.data.batchSize, 1))
        .map(labelledRows);
      this.params = { base, general, others, klBatches: this.options.klBatches };
      this.totalSteps = run.totalSteps;
      this.snapshot = run.snapshot;
      this.seed = run.config.seed;
      this.pool = run.openProbePool();
      const first = await this.pool.run<ProbeResult>({ probe: "drift", target: { kind: "checkpoint", dir: base }, params: this.params as unknown as Record<string, unknown>, seed: this.seed });
      if (!first.ok) throw new PluginError(PLUGIN_NAME, "runStart", `could not score the base model: ${first.error.message}`, { cause: first.error });
      trainer.log.info(`drift: base ${base}; held-out general ${first.value.metrics.bpb!.toFixed(4)} bits/byte; warn +${(this.options.warn * 100).toFixed(1)}%, ${this.options.action} past +${(this.options.act * 100).toFixed(1)}%`);
      // A measurement the checkpoint left in flight measured these very weights: take it again.
      if (this.resumePending === run.startStep) this.measure(run.startStep, trainer);
      this.resumePending = undefined;
    });
    hooks.stepEnd.tap(PLUGIN_NAME, (ctx) => {
      // A measurement that would land after the last step could never act: not started.
      if (!this.pool || ctx.step % this.options.every !== 0 || this.inflight !== undefined || ctx.step + this.options.lag > this.totalSteps) return;
      this.measure(ctx.step, trainer);
    });
    hooks.shouldHalt.tap(PLUGIN_NAME, (ctx) => this.act(ctx.step, trainer));
    hooks.shutdown.tapPromise(PLUGIN_NAME, async () => {
      await this.pool?.close();
      this.pool = undefined;
    });
  }

  /** Snapshot the weights of `step` now and score them off the loop; the result lands `lag` steps later. */
  private measure(step: number, trainer: TrainerApi): void {
    this.inflight = step;
    const work = (async () => {
      let target: ProbeTarget;
      try {
        target = await this.snapshot();
      } catch (error) {
        // Under mtx guard, before the loop's first checkpoint: nothing to measure yet, which is no warning.
        this.inflight = undefined;
        trainer.log.info(`drift: no measurement at step ${step}: ${describeError(error)}`);
        return;
      }
      // Weights of a known step (under mtx guard: the loop's newest checkpoint) are measured once, at that step.
      const measured = target.kind === "checkpoint" && target.step !== undefined ? target.step : step;
      if (measured !== step && (this.lastMeasured === measured || this.history.some((m) => m.step === measured))) {
        this.inflight = undefined;
        return;
      }
      this.lastMeasured = measured;
      const r = await this.pool!.run<ProbeResult>({ probe: "drift", target, params: this.params as unknown as Record<string, unknown>, seed: this.seed });
      this.inflight = undefined;
      if (!r.ok) {
        trainer.warn(PLUGIN_NAME, `drift measurement of step ${measured} failed: ${r.error.message}`);
        return;
      }
      this.ready = { due: step + this.options.lag, m: this.measurement(measured, r.value.details as DriftResult) };
    })();
    trainer.defer(step + this.options.lag, work);
  }

  private act(step: number, trainer: TrainerApi): ShouldHaltVerdict | undefined {
    if (!this.ready || step < this.ready.due) return undefined;
    const { m } = this.ready;
    this.ready = undefined;
    if (m.step > step) return undefined; // measured before a rollback to an earlier step
    this.history.push(m);
    trainer.logMetrics({ driftBpb: m.bpb, driftBaseBpb: m.baseBpb, driftDelta: m.delta, ...(m.kl === null ? {} : { driftKl: m.kl }) }, m.step);
    const evidence = { measuredAtStep: m.step, arrivedAtStep: step, bpb: m.bpb, baseBpb: m.baseBpb, delta: m.delta, kl: m.kl, perSource: m.perSource, thresholds: { warn: this.options.warn, act: this.options.act, maxKl: this.options.maxKl } };
    const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)}%`;
    if (m.delta > this.options.act) {
      return { action: this.options.action, plugin: PLUGIN_NAME, reason: `held-out general bits per byte regressed ${pct(m.delta)} against the base (${m.bpb.toFixed(4)} vs ${m.baseBpb.toFixed(4)}; act threshold ${pct(this.options.act)}): the run is forgetting general knowledge`, evidence };
    }
    if (this.options.maxKl !== null && m.kl !== null && m.kl > this.options.maxKl) {
      return { action: this.options.action, plugin: PLUGIN_NAME, reason: `KL(base || model) on general text is ${m.kl.toFixed(4)} nats/token, above the limit ${this.options.maxKl}`, evidence };
    }
    if (m.delta > this.options.warn) trainer.warn(PLUGIN_NAME, `held-out general bits per byte ${pct(m.delta)} against the base (${m.bpb.toFixed(4)} vs ${m.baseBpb.toFixed(4)}); warn threshold ${pct(this.options.warn)}`, evidence);
    return undefined;
  }

  private measurement(step: number, r: DriftResult): Measurement {
    const bpb = r.score.general.bpb;
    const baseBpb = r.base.general.bpb;
    const perSource: Measurement["perSource"] = {};
    const baseBy = { ...r.base.general.perSource, ...r.base.others };
    for (const [src, s] of Object.entries({ ...r.score.general.perSource, ...r.score.others })) {
      const b = baseBy[src];
      if (b) perSource[src] = { bpb: s.bpb, baseBpb: b.bpb, delta: s.bpb / b.bpb - 1 };
    }
    return { step, bpb, baseBpb, delta: bpb / baseBpb - 1, kl: r.kl, perSource };
  }

  state(): DriftState {
    return { history: this.history, pending: this.inflight ?? this.ready?.m.step };
  }

  restore(s: unknown, reason: "resume" | "rollback"): void {
    const state = s as DriftState;
    this.history = state.history ?? [];
    if (reason === "resume") this.resumePending = state.pending;
  }
}

export const driftPlugin: PluginDefinition<DriftOptions> = {
  name: PLUGIN_NAME,
  kind: "guardrail",
  description: "Semantic drift vs the base model: held-out general bits per byte and KL, off the step loop; warn, then halt or roll back",
  hooks: ["runStart", "stepEnd", "shouldHalt", "shutdown"],
  optionsSchema: schema,
  create: (options) => new DriftPlugin(options),
};

/**
 * `drift`: semantic drift (forgetting of general knowledge) against the base model. Every `every` steps
 * it snapshots the weights and, in a worker thread off the step loop, measures (a) held-out general bits
 * per byte (the held-out documents of the replay sources) against the base model's value, (b) the KL
 * divergence between the base's and the current model's next-token distributions on general text, and
 * (c) bits per byte per source. The result is acted on `lag` steps later: a warning past `warn`, and a
 * halt or rollback verdict past `act`. Measurements go to metrics.jsonl as driftBpb, driftBaseBpb,
 * driftDelta and driftKl.
 */
import { heldoutBatches, interleave } from "../core/data/pipeline.js";
import { PluginError } from "../core/errors.js";
import { PROBE_WORKER, resolveCheckpointPath } from "../core/paths.js";
import type { MtxPlugin } from "../core/plugin.js";
import { PiscinaProbePool } from "../core/pool/PiscinaProbePool.js";
import type { ProbePool } from "../core/pool/ProbePool.js";
import { snapshotBuffers, snapshotOf } from "../core/pool/snapshot.js";
import type { Transformer } from "../core/model/Transformer.js";
import type { TrainerApi } from "../core/TrainerApi.js";
import type { Verdict } from "../core/verdicts.js";
import type { DriftInput, DriftResult } from "../probes/drift.js";
import { tokenBatch } from "../core/evaluate.js";
import schema from "./schema/drift.schema.json" with { type: "json" };
import type { PluginDefinition } from "./types.js";

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
  kl: number;
  perSource: Record<string, { bpb: number; baseBpb: number; delta: number }>;
}

export class DriftPlugin implements MtxPlugin {
  static readonly pluginName = PLUGIN_NAME;
  readonly name = PLUGIN_NAME;
  private pool: ProbePool | undefined;
  private input!: Omit<DriftInput, "model">;
  private model!: Transformer;
  private backend = "wasm";
  /** Result waiting to be acted on at `due`. */
  private ready: { due: number; m: Measurement } | undefined;
  private inflightStep: number | undefined;
  private history: Measurement[] = [];
  private totalSteps = Infinity;

  constructor(readonly options: DriftOptions) {}

  apply(trainer: TrainerApi): void {
    const { hooks } = trainer;
    hooks.runStart.tapPromise(PLUGIN_NAME, async (run) => {
      const base = this.options.base === "start" ? run.from : resolveCheckpointPath(this.options.base);
      if (!base) throw new PluginError(PLUGIN_NAME, "runStart", "base 'start' needs a run that starts from a checkpoint; set options.base to a checkpoint directory");
      const replay = run.data.groups.filter((g) => g.replay).flatMap((g) => g.sources);
      const generalSources = replay.length ? replay : Object.keys(run.data.heldout);
      const interleaved = interleave(generalSources.map((s) => run.data.heldout[s] ?? []));
      if (!interleaved.length) throw new PluginError(PLUGIN_NAME, "runStart", "no held-out general documents to measure drift on; give the recipe a replay group");
      const seqLen = run.model.config.contextLength;
      const generalBatches = heldoutBatches(interleaved, run.tokenizer, seqLen, run.config.data.batchSize, this.options.batches).map(tokenBatch);
      const others = Object.entries(run.data.heldout)
        .filter(([s]) => !replay.includes(s))
        .flatMap(([, docs]) => heldoutBatches(docs, run.tokenizer, seqLen, run.config.data.batchSize, 1))
        .map(tokenBatch);
      this.input = { base, general: generalBatches, others, klBatches: this.options.klBatches, tokenBytes: run.tokenizer.tokenBytes };
      this.model = run.model;
      this.totalSteps = run.totalSteps;
      this.backend = run.backend.name === "cpu" ? "cpu" : "wasm";
      this.pool = new PiscinaProbePool(PROBE_WORKER, { threads: 1 });
      const first = await this.pool.run<DriftResult>({ probe: "drift", input: this.input, backend: this.backend } as never);
      if (!first.ok) throw new PluginError(PLUGIN_NAME, "runStart", `could not score the base model: ${first.error.message}`, { cause: first.error });
      trainer.log.info(`drift: base ${base}; held-out general ${first.value.base.general.bpb.toFixed(4)} bits/byte; warn +${(this.options.warn * 100).toFixed(1)}%, ${this.options.action} past +${(this.options.act * 100).toFixed(1)}%`);
    });
    hooks.stepEnd.tap(PLUGIN_NAME, (ctx) => {
      // A measurement that would land after the last step could never act: not started.
      if (!this.pool || ctx.step % this.options.every !== 0 || this.inflightStep !== undefined || ctx.step + this.options.lag > this.totalSteps) return;
      const snapshot = snapshotOf(this.model);
      const step = ctx.step;
      this.inflightStep = step;
      const work = this.pool
        .run<DriftResult>({ probe: "drift", input: { ...this.input, model: snapshot }, backend: this.backend } as never, { transfer: snapshotBuffers(snapshot) })
        .then((r) => {
          this.inflightStep = undefined;
          if (!r.ok) {
            trainer.warn(PLUGIN_NAME, `drift measurement of step ${step} failed: ${r.error.message}`);
            return;
          }
          this.ready = { due: step + this.options.lag, m: this.measurement(step, r.value) };
        });
      trainer.defer(step + this.options.lag, work);
    });
    hooks.shouldHalt.tap(PLUGIN_NAME, (ctx) => {
      if (!this.ready || ctx.step < this.ready.due) return undefined;
      const { m } = this.ready;
      this.ready = undefined;
      if (m.step > ctx.step) return undefined; // measured before a rollback to an earlier step
      this.history.push(m);
      trainer.logMetrics({ driftBpb: m.bpb, driftBaseBpb: m.baseBpb, driftDelta: m.delta, driftKl: m.kl });
      const evidence = { measuredAtStep: m.step, bpb: m.bpb, baseBpb: m.baseBpb, delta: m.delta, kl: m.kl, perSource: m.perSource, thresholds: { warn: this.options.warn, act: this.options.act, maxKl: this.options.maxKl } };
      const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)}%`;
      if (m.delta > this.options.act) {
        const v: Verdict = { action: this.options.action, plugin: PLUGIN_NAME, reason: `held-out general bits per byte regressed ${pct(m.delta)} against the base (${m.bpb.toFixed(4)} vs ${m.baseBpb.toFixed(4)}; act threshold ${pct(this.options.act)}): the run is forgetting general knowledge`, evidence };
        return v;
      }
      if (this.options.maxKl !== null && m.kl > this.options.maxKl) {
        return { action: this.options.action, plugin: PLUGIN_NAME, reason: `KL(base || model) on general text is ${m.kl.toFixed(4)} nats/token, above the limit ${this.options.maxKl}`, evidence };
      }
      if (m.delta > this.options.warn) trainer.warn(PLUGIN_NAME, `held-out general bits per byte ${pct(m.delta)} against the base (${m.bpb.toFixed(4)} vs ${m.baseBpb.toFixed(4)}); warn threshold ${pct(this.options.warn)}`, evidence);
      return undefined;
    });
    hooks.shutdown.tapPromise(PLUGIN_NAME, async () => {
      await this.pool?.close();
      this.pool = undefined;
    });
  }

  private measurement(step: number, r: DriftResult): Measurement {
    const bpb = r.score.general.bpb;
    const baseBpb = r.base.general.bpb;
    const perSource: Measurement["perSource"] = {};
    for (const [src, s] of Object.entries({ ...r.score.general.perSource, ...r.score.others })) {
      const b = { ...r.base.general.perSource, ...r.base.others }[src];
      if (b) perSource[src] = { bpb: s.bpb, baseBpb: b.bpb, delta: s.bpb / b.bpb - 1 };
    }
    return { step, bpb, baseBpb, delta: bpb / baseBpb - 1, kl: r.kl, perSource };
  }

  state(): unknown {
    return { history: this.history };
  }

  restore(s: unknown): void {
    this.history = (s as { history?: Measurement[] }).history ?? [];
  }
}

export const driftPlugin: PluginDefinition<DriftOptions> = {
  name: PLUGIN_NAME,
  description: "Semantic drift vs the base model: held-out general bits per byte and KL, in a worker; warn, then halt or roll back",
  hooks: ["runStart", "stepEnd", "shouldHalt", "shutdown"],
  optionsSchema: schema,
  create: (options) => new DriftPlugin(options),
};

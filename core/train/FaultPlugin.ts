/**
 * Fault injection (`--inject`), for testing guardrails, as a built-in plugin on the ordinary hooks:
 *   lr-spike@S:xF[:N]   the LR times F for N steps from step S        (learningRate)
 *   bad-batch@S         step S's tokens replaced by uniform random ids (transformBatch; sample ids kept)
 *   nan@S               step S's loss times NaN                        (transformLoss: a declared `nan` term)
 *   weight-noise@S:R    noise of R x each matrix's RMS added to the weights before step S (prepareStep)
 * Each fault fires once per run: a replay of the step after a rollback does not fire it again (unless it is
 * marked `:recur`). Every firing
 * is recorded in decisions.jsonl as `inject`.
 */
import { faultLabel, parseFaults, type Fault } from "../faults.js";
import type { MtxPlugin, TrainerApi } from "../plugin.js";

export const FAULTS_PLUGIN = "faults";

export interface FaultPluginDeps {
  /** The engine's weight perturbation. */
  perturb(scale: number, seed: number): Promise<void>;
  /** Append an `inject` decision. */
  record(decision: Record<string, unknown>): void;
  vocabSize(): number;
}

export class FaultPlugin implements MtxPlugin {
  readonly name = FAULTS_PLUGIN;
  private readonly faults: Fault[];
  private fired = new Set<string>();
  /** An LR spike in progress (cleared by a rollback). */
  private spike: { factor: number; until: number } | undefined;
  /** The step being prepared (transformBatch carries no step). */
  private next = 0;

  constructor(specs: string[], private readonly deps: FaultPluginDeps) {
    this.faults = parseFaults(specs);
  }

  private due(step: number, kind: Fault["kind"]): Fault[] {
    return this.faults.filter((f) => f.kind === kind && f.step === step && (f.recur || !this.fired.has(faultLabel(f))));
  }

  private fire(trainer: TrainerApi, f: Fault, step: number): void {
    const label = faultLabel(f);
    this.fired.add(label);
    this.deps.record({ step, action: "inject", plugin: FAULTS_PLUGIN, fault: label, reason: `injected fault ${label}`, time: new Date().toISOString() });
    trainer.log.warn(`injected fault ${label} at step ${step}`);
  }

  apply(trainer: TrainerApi): void {
    if (!this.faults.length) return;
    const { hooks } = trainer;
    hooks.prepareStep.tapPromise(FAULTS_PLUGIN, async ({ step }) => {
      this.next = step;
      for (const f of this.due(step, "weight-noise")) {
        if (f.kind !== "weight-noise") continue;
        await this.deps.perturb(f.scale, trainer.rng("faults").int(2 ** 31));
        this.fire(trainer, f, step);
      }
    });
    hooks.transformBatch.tap(FAULTS_PLUGIN, (batch) => {
      // The batch's step: transformBatch runs once per step, after prepareStep fixed `next`.
      const step = this.next;
      if (!this.due(step, "bad-batch").length) return batch;
      const rng = trainer.rng("faults");
      const V = this.deps.vocabSize();
      for (const f of this.due(step, "bad-batch")) this.fire(trainer, f, step);
      return { ...batch, inputs: Int32Array.from(batch.inputs, () => rng.int(V)), targets: Int32Array.from(batch.targets, () => rng.int(V)) };
    });
    hooks.learningRate.tap(FAULTS_PLUGIN, (ctx) => {
      for (const f of this.due(ctx.step, "lr-spike")) {
        if (f.kind !== "lr-spike") continue;
        this.spike = { factor: f.factor, until: ctx.step + f.steps - 1 };
        this.fire(trainer, f, ctx.step);
      }
      if (!this.spike || ctx.step > this.spike.until) return ctx;
      return { ...ctx, lr: ctx.lr * this.spike.factor };
    });
    hooks.transformLoss.tap(FAULTS_PLUGIN, (ctx) => {
      const due = this.due(ctx.step, "nan");
      if (!due.length) return ctx;
      for (const f of due) this.fire(trainer, f, ctx.step);
      return { ...ctx, terms: [...ctx.terms, { kind: "nan", name: "injected-nan" }] };
    });
  }

  state(): unknown {
    return { fired: [...this.fired] };
  }

  /** Fired faults are history: a rollback keeps them fired; the spike in progress ends with it. */
  restore(state: unknown, reason: "resume" | "rollback"): void {
    const fired = (state as { fired?: string[] }).fired ?? [];
    this.fired = reason === "rollback" ? new Set([...this.fired, ...fired]) : new Set(fired);
    this.spike = undefined;
  }
}

/**
 * `spike`: loss-spike detection with closed-loop recovery. It watches the loss, the gradient norm (before
 * the update) and the update norm (after it) as z-scores over a rolling window (OLMo-core SkipStepAdamW:
 * window 128, active from 64 values, 6 sigma), and NaN/Inf at once. A gradient-norm spike alone skips the
 * update. Each loss or update-norm spike of a streak climbs a ladder
 * of actions: skip the update -> lower the LR for a while -> roll back to the last checkpoint tagged good
 * and skip the offending data window (by sample id, as PaLM did) -> halt once the rollback budget is spent.
 * Every decision carries its evidence: the value, the window's mean and std, the z-score, the batch's
 * sample ids and sources. It also flags a loss jump in the first steps after a resume, the classic sign
 * of restored optimizer moments or state that do not match the weights.
 */
import type { StepContext } from "../../core/hooks.js";
import type { MtxPlugin, PluginDefinition, ShouldHaltVerdict, TrainerApi, Verdict, VerdictAction } from "../../core/plugin.js";
import schema from "./spike.schema.json" with { type: "json" };

const PLUGIN_NAME = "spike";

type Signal = "loss" | "gradNorm" | "updateNorm";

export interface SpikeOptions {
  window: number;
  minSamples: number;
  threshold: number;
  signals: Signal[];
  ladder: VerdictAction[];
  cooldown: number;
  lrFactor: number;
  lrSteps: number;
  maxRollbacks: number;
  skipBefore: number;
  resumeCheckSteps: number;
  resumeThreshold: number;
}

interface SpikeState {
  windows: Record<Signal, number[]>;
  /** Spikes in the current streak. */
  streak: number;
  streakStart: number;
  lastSpike: number;
  rollbacks: number;
  /** Sample ids of recent steps (for the data window a rollback skips). */
  recent: { step: number; ids: string[] }[];
}

export interface Detection {
  signal: Signal | "nonfinite";
  value: number;
  mean: number;
  std: number;
  z: number;
}

/** Mean and (population) standard deviation. */
export function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  return { mean, std: Math.sqrt(v) };
}

export class SpikePlugin implements MtxPlugin {
  static readonly pluginName = PLUGIN_NAME;
  readonly name = PLUGIN_NAME;
  private s: SpikeState = { windows: { loss: [], gradNorm: [], updateNorm: [] }, streak: 0, streakStart: 0, lastSpike: -Infinity, rollbacks: 0, recent: [] };
  private resumeChecks = 0;

  constructor(readonly options: SpikeOptions) {}

  /** The z-score detection of one value against its window (undefined while the window is short or on no spike). */
  detect(signal: Signal, value: number, threshold = this.options.threshold): Detection | undefined {
    if (!Number.isFinite(value)) return { signal: "nonfinite", value, mean: NaN, std: NaN, z: Infinity };
    if (!this.options.signals.includes(signal)) return undefined;
    const w = this.s.windows[signal];
    if (w.length < this.options.minSamples) return undefined;
    const { mean, std } = meanStd(w);
    const z = (value - mean) / (std || 1e-12);
    return z > threshold ? { signal, value, mean, std, z } : undefined;
  }

  private push(signal: Signal, value: number): void {
    const w = this.s.windows[signal];
    w.push(value);
    if (w.length > this.options.window) w.shift();
  }

  /** The next rung for a spike at `step`, honouring the cooldown and the rollback budget. */
  private escalate(step: number, lowest?: VerdictAction): { action: VerdictAction; rung: number } {
    if (step - this.s.lastSpike > this.options.cooldown) {
      this.s.streak = 0;
      this.s.streakStart = step;
    }
    let rung = Math.min(this.s.streak, this.options.ladder.length - 1);
    const floor = lowest === undefined ? -1 : this.options.ladder.indexOf(lowest);
    if (floor > rung) rung = floor;
    this.s.streak++;
    this.s.lastSpike = step;
    let action = this.options.ladder[rung]!;
    if (action === "rollback" && this.s.rollbacks >= this.options.maxRollbacks) action = "halt";
    return { action, rung };
  }

  private verdict(ctx: StepContext, d: Detection, allowed: readonly VerdictAction[]): Verdict | undefined {
    // An update that has landed is undone only by a rollback: a spike seen after the update starts at that rung.
    const { action, rung } = this.escalate(ctx.step, allowed.includes("skip") ? undefined : "rollback");
    const samples = ctx.batch.samples.map((x) => x.id);
    const evidence: Record<string, unknown> = {
      signal: d.signal,
      value: d.value,
      windowMean: d.mean,
      windowStd: d.std,
      z: d.z,
      threshold: this.options.threshold,
      rung: rung + 1,
      streak: this.s.streak,
      rollbacksUsed: this.s.rollbacks,
      samples,
      sources: ctx.batch.samples.map((x) => x.source),
    };
    const what = d.signal === "nonfinite" ? `non-finite value (${d.value})` : `${d.signal} ${d.value.toPrecision(5)} is ${d.z.toFixed(1)} sigma above the window mean ${d.mean.toPrecision(5)}`;
    if (!allowed.includes(action)) return undefined; // e.g. skip after the update: the next spike climbs higher
    let reason = `${what} (spike ${this.s.streak} of a streak)`;
    switch (action) {
      case "reduce-lr":
        return { action, plugin: PLUGIN_NAME, reason, evidence, lrFactor: this.options.lrFactor, lrSteps: this.options.lrSteps };
      case "rollback": {
        this.s.rollbacks++;
        const from = this.s.streakStart - this.options.skipBefore;
        const skipSamples = [...this.s.recent.filter((r) => r.step >= from).flatMap((r) => r.ids), ...samples];
        evidence.skippedSamples = skipSamples.length;
        if (this.s.rollbacks >= this.options.maxRollbacks) reason += "; rollback budget now spent";
        return { action, plugin: PLUGIN_NAME, reason, evidence, skipSamples };
      }
      case "halt":
        if (this.options.ladder.includes("rollback")) reason += `; the rollback budget (${this.options.maxRollbacks}) is spent`;
        return { action, plugin: PLUGIN_NAME, reason, evidence };
      case "skip":
        return { action, plugin: PLUGIN_NAME, reason, evidence };
    }
  }

  apply(trainer: TrainerApi): void {
    const { hooks } = trainer;
    hooks.shouldSkipStep.tap(PLUGIN_NAME, (ctx) => {
      if (this.resumeChecks > 0) {
        this.resumeChecks--;
        const jump = this.detect("loss", ctx.loss, this.options.resumeThreshold);
        if (jump && jump.signal === "loss") {
          trainer.warn(PLUGIN_NAME, `loss ${ctx.loss.toFixed(4)} right after the resume is ${jump.z.toFixed(1)} sigma above the saved window: likely an optimizer-moment or state mismatch`, { ...jump });
        }
      }
      const d = this.detect("loss", ctx.loss) ?? (Number.isFinite(ctx.gradNorm) ? undefined : this.detect("gradNorm", ctx.gradNorm));
      if (d) return this.verdict(ctx, d, ["skip", "reduce-lr", "rollback", "halt"]);
      // A gradient-norm spike with a normal loss is skipped (OLMo-core) but does not climb the ladder:
      // with small batches the gradient norm is heavy-tailed and such spikes are common and harmless.
      const g = this.detect("gradNorm", ctx.gradNorm);
      if (!g) return undefined;
      return {
        action: "skip",
        plugin: PLUGIN_NAME,
        reason: `gradNorm ${g.value.toPrecision(5)} is ${g.z.toFixed(1)} sigma above the window mean ${g.mean.toPrecision(5)} (loss normal: update skipped)`,
        evidence: { signal: g.signal, value: g.value, windowMean: g.mean, windowStd: g.std, z: g.z, threshold: this.options.threshold, samples: ctx.batch.samples.map((x) => x.id), sources: ctx.batch.samples.map((x) => x.source) },
      };
    });
    hooks.stepEnd.tap(PLUGIN_NAME, (ctx) => {
      this.s.recent.push({ step: ctx.step, ids: ctx.batch.samples.map((x) => x.id) });
      while (this.s.recent.length && this.s.recent[0]!.step < ctx.step - 4 * this.options.cooldown) this.s.recent.shift();
      // The gradient norm always enters its window, so a lasting shift of its level is adapted to rather
      // than skipped step after step; a spiking loss stays out of its window.
      if (Number.isFinite(ctx.gradNorm)) this.push("gradNorm", ctx.gradNorm);
      if (ctx.step === this.s.lastSpike || !Number.isFinite(ctx.loss)) return;
      this.push("loss", ctx.loss);
    });
    hooks.shouldHalt.tap(PLUGIN_NAME, (ctx) => {
      if (ctx.skipped || ctx.step === this.s.lastSpike) return undefined;
      const d = this.detect("updateNorm", ctx.updateNorm);
      if (!d) {
        this.push("updateNorm", ctx.updateNorm);
        return undefined;
      }
      // The update is already applied: skipping a later step or lowering the LR leaves its damage in the
      // weights (one 100x update costs a small model 12% of its loss for the rest of a 110-step run), so
      // the ladder's rollback rung answers it; without rollback (or halt) in the ladder it is a warning.
      const v = this.verdict(ctx, d, ["rollback", "halt"]) as ShouldHaltVerdict | undefined;
      if (!v) trainer.warn(PLUGIN_NAME, `update norm ${d.value.toPrecision(5)} is ${d.z.toFixed(1)} sigma above the window mean (spike ${this.s.streak} of a streak)`, { ...d, streak: this.s.streak });
      return v;
    });
  }

  state(): unknown {
    return structuredClone(this.s);
  }

  restore(state: unknown, reason: "resume" | "rollback"): void {
    const saved = structuredClone(state) as SpikeState;
    if (reason === "rollback") {
      // The windows go back with the weights; the rollback budget is kept (it counts what happened
      // since), and the ladder starts again from its first rung on the restored state.
      this.s = { ...saved, rollbacks: this.s.rollbacks, streak: 0, lastSpike: -Infinity, recent: [] };
    } else {
      this.s = saved;
      this.resumeChecks = this.options.resumeCheckSteps;
    }
  }
}

export const spikePlugin: PluginDefinition<SpikeOptions> = {
  name: PLUGIN_NAME,
  kind: "guardrail",
  description: "Loss/gradient/update-norm spike detection: skip -> lower LR -> roll back and skip the data -> halt",
  hooks: ["shouldSkipStep", "stepEnd", "shouldHalt"],
  optionsSchema: schema,
  create: (options) => new SpikePlugin(options),
};

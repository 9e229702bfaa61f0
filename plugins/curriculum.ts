/**
 * `curriculum`: proctor-driven mixing. Every `every` steps it scores the main model on a fixed held-out
 * sample of each mixture group and moves the group weights toward the groups where the main model's loss
 * exceeds a proctor model's (DoReMi, Xie et al. 2023: per-domain excess loss
 * lambda = max(l_main - l_proctor, 0); alpha <- normalize(alpha * exp(eta * lambda))), smoothed toward the
 * recipe and with a minimum share per group. The proctor is by default the run's starting checkpoint, so
 * a group the run is forgetting (or has not learnt yet, relative to the proctor) gets more data.
 * The proctor's losses are fixed, so they are computed once at run start.
 */
import { loadCheckpoint } from "../core/checkpoint/Checkpoint.js";
import { PackedStream } from "../core/data/PackedStream.js";
import type { Batch } from "../core/data/batch.js";
import type { Tokenizer } from "../core/data/tokenizer/Tokenizer.js";
import { PluginError } from "../core/errors.js";
import { evaluateBatches } from "../core/evaluate.js";
import { Transformer } from "../core/model/Transformer.js";
import { resolveCheckpointPath } from "../core/paths.js";
import type { MtxPlugin } from "../core/plugin.js";
import type { TrainerApi } from "../core/TrainerApi.js";
import schema from "./schema/curriculum.schema.json" with { type: "json" };
import type { PluginDefinition } from "./types.js";

const PLUGIN_NAME = "curriculum";

export interface CurriculumOptions {
  every: number;
  proctor: string;
  sampleSequences: number;
  eta: number;
  smoothing: number;
  minShare: number;
}

interface CurriculumState {
  alpha: Record<string, number>;
  weights: Record<string, number>;
  excess: Record<string, number>;
}

/** One DoReMi-style update: exponentiated excess loss, smoothed toward the recipe, floored at minShare. */
export function updateWeights(
  alpha: Record<string, number>,
  excess: Record<string, number>,
  recipe: Record<string, number>,
  o: Pick<CurriculumOptions, "eta" | "smoothing" | "minShare">,
): { alpha: Record<string, number>; weights: Record<string, number> } {
  const groups = Object.keys(recipe);
  const raw = groups.map((g) => alpha[g]! * Math.exp(o.eta * Math.max(0, excess[g] ?? 0)));
  const sum = raw.reduce((a, b) => a + b, 0);
  const nextAlpha = Object.fromEntries(groups.map((g, i) => [g, raw[i]! / sum]));
  let w = groups.map((g) => (1 - o.smoothing) * nextAlpha[g]! + o.smoothing * recipe[g]!);
  w = w.map((x) => Math.max(x, o.minShare));
  const total = w.reduce((a, b) => a + b, 0);
  return { alpha: nextAlpha, weights: Object.fromEntries(groups.map((g, i) => [g, w[i]! / total])) };
}

export class CurriculumPlugin implements MtxPlugin {
  static readonly pluginName = PLUGIN_NAME;
  readonly name = PLUGIN_NAME;
  private samples = new Map<string, Batch>();
  private proctorLoss: Record<string, number> = {};
  private current: CurriculumState | undefined;
  private model: Transformer | undefined;
  private tokenizer!: Tokenizer;

  constructor(readonly options: CurriculumOptions) {}

  apply(trainer: TrainerApi): void {
    const { hooks } = trainer;
    hooks.runStart.tap(PLUGIN_NAME, (run) => {
      this.tokenizer = run.tokenizer;
      const seqLen = run.model.config.contextLength;
      for (const g of run.data.groups) {
        const docs = g.sources.flatMap((s) => run.data.heldout[s] ?? []);
        if (!docs.length) continue;
        const stream = new PackedStream({ documents: docs, tokenizer: run.tokenizer, seqLen, batchSize: this.options.sampleSequences, seed: 0, shuffle: false });
        this.samples.set(g.name, stream.next());
      }
      if (!this.samples.size) throw new PluginError(PLUGIN_NAME, "runStart", "no mixture group has held-out documents to score; raise the recipe's heldoutShare");
      const dir = this.options.proctor === "start" ? run.from : resolveCheckpointPath(this.options.proctor);
      if (!dir) throw new PluginError(PLUGIN_NAME, "runStart", `proctor 'start' needs a run that starts from a checkpoint; give options.proctor a checkpoint directory`);
      const ckpt = loadCheckpoint(dir, { withOptimizer: false });
      if (JSON.stringify((ckpt.tokenizerJson as { model: unknown }).model) !== JSON.stringify((run.tokenizer.json as { model: unknown }).model)) {
        throw new PluginError(PLUGIN_NAME, "runStart", `proctor ${dir} uses another tokenizer than the run; losses would not compare`);
      }
      const proctor = Transformer.fromWeights(ckpt.state.model, ckpt.weights);
      try {
        for (const [g, batch] of this.samples) this.proctorLoss[g] = evaluateBatches(proctor, [batch], run.tokenizer).loss;
      } finally {
        proctor.dispose();
      }
      const recipe = Object.fromEntries(run.data.groups.map((g) => [g.name, g.weight]));
      this.current ??= { alpha: { ...recipe }, weights: { ...recipe }, excess: {} };
      trainer.log.info(`curriculum: proctor ${dir}; proctor loss ${Object.entries(this.proctorLoss).map(([g, l]) => `${g} ${l.toFixed(3)}`).join(", ")}`);
      this.model = run.model;
    });
    hooks.mixtureWeights.tap(PLUGIN_NAME, (ctx) => {
      if (!this.current) return ctx;
      if (ctx.step > 1 && (ctx.step - 1) % this.options.every === 0) this.reweight(ctx.recipe, trainer);
      return { ...ctx, weights: { ...this.current.weights } };
    });
  }

  private reweight(recipe: Record<string, number>, trainer: TrainerApi): void {
    const excess: Record<string, number> = {};
    for (const [g, batch] of this.samples) excess[g] = evaluateBatches(this.model!, [batch], this.tokenizer).loss - this.proctorLoss[g]!;
    const next = updateWeights(this.current!.alpha, excess, recipe, this.options);
    this.current = { ...next, excess };
    trainer.log.info(`curriculum: excess loss ${Object.entries(excess).map(([g, x]) => `${g} ${x.toFixed(3)}`).join(", ")} -> weights ${Object.entries(next.weights).map(([g, w]) => `${g} ${w.toFixed(3)}`).join(", ")}`);
  }

  state(): unknown {
    return this.current;
  }

  restore(s: unknown): void {
    this.current = s as CurriculumState;
  }
}

export const curriculumPlugin: PluginDefinition<CurriculumOptions> = {
  name: PLUGIN_NAME,
  description: "Proctor-driven mixing: group weights follow the excess loss over a proctor model (DoReMi-style)",
  hooks: ["runStart", "mixtureWeights"],
  optionsSchema: schema,
  create: (options) => new CurriculumPlugin(options),
};

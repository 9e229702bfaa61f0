/**
 * `curriculum`: proctor-driven mixing. Every `every` steps it scores the main model on a fixed held-out
 * sample of each mixture group and moves the group weights toward the groups where the main model's loss
 * exceeds a proctor model's (DoReMi, Xie et al. 2023: per-domain excess loss
 * lambda = max(l_main - l_proctor, 0); alpha <- normalize(alpha * exp(eta * lambda))), smoothed toward the
 * recipe and with a minimum share per group. The first re-weighting is at step 1, so the weights act from
 * the start of the run.
 *
 * The proctor decides what the signal means. DoReMi's reference is a model trained on the stratified mix
 * (for example an earlier run of the same recipe without this plugin): the main model's excess over it
 * is how much each group can still be learnt, and it is positive from step 1. With `proctor: "start"`
 * (the run's starting checkpoint) the excess is how much a group has been forgotten; a run that improves
 * on its start everywhere never re-weights.
 *
 * It steers on the second half of each group's held-out documents (`steering sample`), so an evaluation on
 * the first half (the trainer's held-out eval reads documents in order from the first) is not scored on
 * the data that steered. The proctor's losses are fixed, so they are computed once at run start.
 */
import type { Batch } from "../../core/data/batch.js";
import { PackedStream } from "../../core/data/PackedStream.js";
import { labelledRows } from "../../core/data/pipeline.js";
import { scoreRows, type LanguageModel } from "../../core/engine/LanguageModel.js";
import { PluginError } from "../../core/errors.js";
import { resolveModelSource } from "../../core/interop/modelSource.js";
import { forwardFlops } from "../../core/model/Transformer.js";
import type { MtxPlugin, PluginDefinition, TrainerApi } from "../../core/plugin.js";
import schema from "./curriculum.schema.json" with { type: "json" };

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
  /** Forward FLOPs spent scoring (model and proctor), cumulative: the `curriculum.flops` metric. */
  flops?: number;
}

/** The held-out documents the curriculum steers on: the second half of a source's (all of a single one). */
export function steeringDocuments<T>(docs: T[]): T[] {
  return docs.length > 1 ? docs.slice(Math.floor(docs.length / 2)) : docs;
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
  private model: LanguageModel | undefined;
  private flops = 0;
  private recipe: Record<string, number> = {};

  constructor(readonly options: CurriculumOptions) {}

  apply(trainer: TrainerApi): void {
    const { hooks } = trainer;
    hooks.runStart.tapPromise(PLUGIN_NAME, async (run) => {
      const seqLen = run.modelConfig.contextLength;
      for (const g of run.data.groups) {
        const docs = g.sources.flatMap((s) => steeringDocuments(run.data.heldout[s] ?? []));
        if (!docs.length) continue;
        const stream = new PackedStream({ documents: docs, tokenizer: run.tokenizer, seqLen, batchSize: this.options.sampleSequences, seed: 0, shuffle: false });
        this.samples.set(g.name, stream.next());
      }
      if (!this.samples.size) throw new PluginError(PLUGIN_NAME, "runStart", "no mixture group has held-out documents to score; raise the recipe's heldoutShare");
      const dir = this.options.proctor === "start" ? run.from : resolveModelSource(this.options.proctor);
      if (!dir) throw new PluginError(PLUGIN_NAME, "runStart", `proctor 'start' needs a run that starts from a checkpoint; give options.proctor a checkpoint directory`);
      const proctor = await run.loadModel(dir);
      try {
        if (JSON.stringify(proctor.tokenizer.json.model) !== JSON.stringify(run.tokenizer.json.model)) {
          throw new PluginError(PLUGIN_NAME, "runStart", `proctor ${dir} uses another tokenizer than the run; losses would not compare`);
        }
        for (const [g, batch] of this.samples) this.proctorLoss[g] = (await this.score(proctor, batch)).loss;
      } finally {
        await proctor.dispose();
      }
      this.recipe = Object.fromEntries(run.data.groups.map((g) => [g.name, g.weight]));
      this.current ??= { alpha: { ...this.recipe }, weights: { ...this.recipe }, excess: {} };
      trainer.log.info(`curriculum: proctor ${dir}; proctor loss ${Object.entries(this.proctorLoss).map(([g, l]) => `${g} ${l.toFixed(3)}`).join(", ")}`);
      this.model = run.model;
    });
    hooks.prepareStep.tapPromise(PLUGIN_NAME, async ({ step }) => {
      if (this.current && (step - 1) % this.options.every === 0) await this.reweight(trainer);
    });
    hooks.mixtureWeights.tap(PLUGIN_NAME, (ctx) => (this.current ? { ...ctx, weights: { ...this.current.weights } } : ctx));
  }

  private async reweight(trainer: TrainerApi): Promise<void> {
    const excess: Record<string, number> = {};
    for (const [g, batch] of this.samples) excess[g] = (await this.score(this.model!, batch)).loss - this.proctorLoss[g]!;
    const next = updateWeights(this.current!.alpha, excess, this.recipe, this.options);
    this.current = { ...next, excess };
    trainer.logMetrics({ ...Object.fromEntries(Object.entries(next.weights).map(([g, w]) => [`curriculum.weight.${g}`, w])), "curriculum.flops": this.flops });
    trainer.log.info(`curriculum: excess loss ${Object.entries(excess).map(([g, x]) => `${g} ${x.toFixed(3)}`).join(", ")} -> weights ${Object.entries(next.weights).map(([g, w]) => `${g} ${w.toFixed(3)}`).join(", ")}`);
  }

  /** Score one steering batch, counting its forward compute. */
  private score(model: LanguageModel, batch: Batch) {
    this.flops += forwardFlops(model.config, batch.size * batch.seqLen, batch.seqLen);
    return scoreRows(model, [labelledRows(batch)]);
  }

  state(): unknown {
    return this.current && { ...this.current, flops: this.flops };
  }

  restore(s: unknown): void {
    this.current = s as CurriculumState;
    this.flops = this.current?.flops ?? 0;
  }
}

export const curriculumPlugin: PluginDefinition<CurriculumOptions> = {
  name: PLUGIN_NAME,
  kind: "method",
  description: "Proctor-driven mixing: group weights follow the excess loss over a proctor model (DoReMi-style)",
  hooks: ["runStart", "prepareStep", "mixtureWeights"],
  optionsSchema: schema,
  create: (options) => new CurriculumPlugin(options),
};
